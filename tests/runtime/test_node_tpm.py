"""A daemon's attestation set up from its configuration on a real TPM (swtpm) whose boot the
platform measured, with the TCG event log given as `boot_log`."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from apmip.attest import pki
from apmip.attest.binding import SignallingContext
from apmip.attest.boot import simulate_boot
from apmip.attest.eventlog import encode_log
from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import TpmAttester
from apmip.errors import ConfigError
from apmip.runtime import config as config_module
from apmip.runtime.node import prepare_attestation, record_references

pytestmark = pytest.mark.swtpm

CONTEXT = SignallingContext("mag", "127.0.0.2", "127.0.0.1", b"mn@apmip.example", 9)
NONCE = b"\x5a" * 32


@pytest.fixture
def booted(tmp_path: Path):
    if shutil.which("swtpm") is None:
        pytest.skip("swtpm is not installed (./run tests installs it)")
    with SwtpmProcess(tmp_path / "tpm") as tpm:
        attester = TpmAttester(tpm.tcti)
        try:
            events = simulate_boot(attester)  # what firmware would have measured
            ak_pem = attester.ak_public_pem()
        finally:
            attester.close()
        (tmp_path / "boot.log").write_bytes(encode_log(events))
        now = dt.datetime.now(dt.UTC)
        pki.init_ca(tmp_path / "pki", now)
        pki.issue_device(tmp_path / "pki", "mag1", "MAG-0001", now, ak_pem)
        (tmp_path / "refs.json").write_text(
            '{"format": "apmip-reference-values", "version": 1, "sets": []}'
        )
        yield tmp_path, tpm.tcti


def write_config(root: Path, tcti: str, boot_log: str = "boot.log") -> Path:
    path = root / "mag1.toml"
    path.write_text(f"""
[node]
name = "mag1"
address = "127.0.0.2"
[mag]
lma = "127.0.0.1"
[attestation]
attester = "tpm"
tcti = "{tcti}"
boot_log = "{boot_log}"
ak_certificate = "pki/devices/mag1/ak.cert.pem"
trust_anchors = ["pki/ca/ca.cert.pem"]
peer_certificates = "pki/devices"
references = "refs.json"
""")
    return path


def test_references_and_evidence_from_a_measured_platform_agree(booted):
    root, tcti = booted
    config = config_module.load(write_config(root, tcti), "mag")
    refs = record_references(config, name="mag1-approved")
    refs.save(root / "refs.json")
    node = prepare_attestation(config_module.load(config.path, "mag"))
    try:
        kinds = [event.kind for event in node.events]
        assert kinds[:3] == ["firmware", "platform-config", "option-rom"]
        assert kinds.count("config") == 1 and "executable" in kinds
        result = node.verifier.appraise(node.evidence.produce(NONCE, CONTEXT), NONCE, CONTEXT)
        assert (result.verdict, result.reason, result.reference_set) == (
            "accept",
            "ok",
            "mag1-approved",
        )
        assert result.serial == "MAG-0001"
    finally:
        node.attester.close()


def test_an_unreadable_boot_log_stops_start_up_naming_the_key(booted):
    root, tcti = booted
    (root / "bad.log").write_bytes(b"not a TCG log")
    config = config_module.load(write_config(root, tcti, "bad.log"), "mag")
    with pytest.raises(ConfigError) as caught:
        prepare_attestation(config)
    assert caught.value.key == "attestation.boot_log"
    assert caught.value.fix.startswith("give the platform's TCG event log")
