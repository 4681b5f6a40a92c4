"""Shared fixtures: a test PKI, software attesters with a simulated boot and measured files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from apmip.attest import pki
from apmip.attest.attester import PcrBank
from apmip.attest.binding import SignallingContext
from apmip.attest.boot import simulate_boot
from apmip.attest.events import Event
from apmip.attest.local import DEFAULT_SELECTION, LocalEvidence
from apmip.attest.measure import config_items, measure, package_items
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.software import SoftwareAttester
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
NONCE = bytes(range(16))
CONTEXT = SignallingContext("mag", "2001:db8::1", "2001:db8::100", b"mn1@example", 7)


class Clock:
    """A TPM clock the test moves by hand (milliseconds)."""

    def __init__(self, ms: int = 1_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@dataclass
class Node:
    """One attesting device: its PKI files, attester, events and evidence producer."""

    name: str
    serial: str
    paths: pki.DevicePaths
    attester: SoftwareAttester
    clock: Clock
    config: Path
    events: tuple[Event, ...]
    local: LocalEvidence

    def evidence(self, nonce: bytes = NONCE, context: SignallingContext = CONTEXT) -> bytes:
        return self.local.produce(nonce, context)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_ca(directory, NOW)
    pki.issue_device(directory, "mag1", "MAG-0001", NOW)
    pki.issue_device(directory, "mag2", "MAG-0002", NOW)
    return directory


def make_node(
    pki_dir: Path,
    work: Path,
    name: str = "mag1",
    serial: str = "MAG-0001",
    selection: tuple[PcrBank, ...] = DEFAULT_SELECTION,
) -> Node:
    paths = pki.DevicePaths(
        pki_dir / "devices" / name,
        pki_dir / "devices" / name / "idevid.cert.pem",
        pki_dir / "devices" / name / "idevid.key.pem",
        pki_dir / "devices" / name / "ak.cert.pem",
        pki_dir / "devices" / name / "ak.key.pem",
    )
    clock = Clock()
    assert paths.ak_key is not None
    attester = SoftwareAttester(paths.ak_key, work / f"{name}.state.json", clock)
    config = work / f"{name}.toml"
    if not config.exists():
        config.write_text(f'[mag]\nname = "{name}"\nlma = "2001:db8::100"\n')
    events = simulate_boot(attester)
    events += measure(attester, config_items([config]) + package_items("apmip.attest"))
    ak_der = pki.load_cert(paths.ak_cert).public_bytes(serialization.Encoding.DER)
    local = LocalEvidence(attester, ak_der, selection, events)
    return Node(name, serial, paths, attester, clock, config, events, local)


@pytest.fixture
def node(pki_dir: Path, tmp_path: Path) -> Node:
    return make_node(pki_dir, tmp_path)


@pytest.fixture
def references(node: Node) -> ReferenceValues:
    return ReferenceValues.record(
        node.attester, DEFAULT_SELECTION, node.events, name="mag-golden", release="0.1.0"
    )


VerifierFactory = Callable[..., Verifier]


@pytest.fixture
def verifier(pki_dir: Path, references: ReferenceValues) -> Verifier:
    return Verifier(TrustStore.from_pki_dir(pki_dir), references, Policy(), DEFAULT_SELECTION)
