"""The software attester writes what a TPM writes, and keeps its counters like one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.boot import BOOT_CHAIN, simulate_boot
from apmip.attest.events import Event, replay
from apmip.attest.measure import config_items, measure
from apmip.attest.software import SoftwareAttester, generate_key
from apmip.errors import TpmError

from .conftest import Clock


@pytest.fixture
def attester(tmp_path: Path) -> SoftwareAttester:
    generate_key(tmp_path / "ak.pem")
    return SoftwareAttester(tmp_path / "ak.pem", tmp_path / "state.json", Clock(5000))


def test_extend_follows_tpm2_pcr_extend(attester: SoftwareAttester) -> None:
    digest = hashlib.sha256(b"x").digest()
    attester.extend(3, {"sha256": digest, "sha1": hashlib.sha1(b"x").digest()})
    values = attester.pcr_read((PcrBank("sha256", (2, 3)), PcrBank("sha1", (3,))))
    assert values[("sha256", 2)] == bytes(32)
    assert values[("sha256", 3)] == hashlib.sha256(bytes(32) + digest).digest()
    assert values[("sha1", 3)] == hashlib.sha1(bytes(20) + hashlib.sha1(b"x").digest()).digest()


def test_extend_refuses_wrong_digest_size(attester: SoftwareAttester) -> None:
    with pytest.raises(TpmError, match="extend PCR 3 sha256: digest 20 bytes, not 32"):
        attester.extend(3, {"sha256": bytes(20)})
    with pytest.raises(TpmError, match="no sha384 PCR bank"):
        attester.extend(3, {"sha384": bytes(48)})


def test_quote_is_a_tpm_quote_verified_independently(attester: SoftwareAttester) -> None:
    simulate_boot(attester)
    selection = (PcrBank("sha256", (0, 4, 9)),)
    quote = attester.quote(b"\x5a" * 32, selection)
    attest = tpm2.parse_attest(quote.attest)
    assert quote.attest[:6] == bytes.fromhex("ff5443478018")
    assert attest.extra_data == b"\x5a" * 32
    assert attest.clock_info == tpm2.ClockInfo(5000, 0, 0, True)
    values = attester.pcr_read(selection)
    expected = hashlib.sha256(
        values[("sha256", 0)] + values[("sha256", 4)] + values[("sha256", 9)]
    ).digest()
    assert attest.quote is not None
    assert attest.quote.pcr_digest == expected
    # TPMT_SIGNATURE: ECDSA (0x0018), SHA-256 (0x000B), r and s as 32-byte TPM2Bs
    assert len(quote.signature) == 72
    assert quote.signature[:6] == bytes.fromhex("0018000b0020")
    assert quote.signature[38:40] == bytes.fromhex("0020")
    r = int.from_bytes(quote.signature[6:38], "big")
    s = int.from_bytes(quote.signature[40:72], "big")
    key = serialization.load_pem_public_key(attester.ak_public_pem())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(encode_dss_signature(r, s), quote.attest, ec.ECDSA(hashes.SHA256()))


def test_boot_chain_replays_to_the_pcrs(attester: SoftwareAttester) -> None:
    events = simulate_boot(attester)
    assert [e.name for e in events] == [c.name for c in BOOT_CHAIN]
    values = attester.pcr_read((PcrBank("sha256", (0, 4, 9)), PcrBank("sha1", (9,))))
    for bank, pcr in values:
        assert replay(events, bank, pcr) == values[(bank, pcr)]
    # PCR 0 after one event, computed by hand from the documented rule
    firmware = hashlib.sha256(b"simulated UEFI firmware 1.0").digest()
    data = (
        b"apmip measured event v1\x00" + b"\x08firmware" + b"\x00\x16apmip-sim-firmware 1.0"
    ) + firmware
    pcr0 = hashlib.sha256(bytes(32) + hashlib.sha256(data).digest()).digest()
    assert values[("sha256", 0)] == pcr0


def test_measurement_list_keeps_order_and_digests(
    attester: SoftwareAttester, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("one")
    b.write_text("two")
    events = measure(attester, config_items([b, a]))
    assert events == (
        Event(13, "config", str(b), hashlib.sha256(b"two").digest()),
        Event(13, "config", str(a), hashlib.sha256(b"one").digest()),
    )
    value = attester.pcr_read((PcrBank("sha256", (13,)),))[("sha256", 13)]
    assert replay(events, "sha256", 13) == value
    assert replay(events[::-1], "sha256", 13) != value


def test_counters_persist_and_follow_resets(tmp_path: Path) -> None:
    generate_key(tmp_path / "ak.pem")
    state = tmp_path / "state.json"
    first = SoftwareAttester(tmp_path / "ak.pem", state, Clock())
    first.restart()
    first.restart()
    assert json.loads(state.read_text()) == {"reset_count": 0, "restart_count": 2, "safe": True}
    again = SoftwareAttester(tmp_path / "ak.pem", state, Clock())
    assert (again.reset_count, again.restart_count) == (0, 2)
    again.extend(0, {"sha256": bytes(32)})
    again.power_cycle()
    assert (again.reset_count, again.restart_count) == (1, 0)
    assert again.pcr_read((PcrBank("sha256", (0,)),))[("sha256", 0)] == bytes(32)
    again.mark_unsafe()
    clock_info = tpm2.parse_attest(again.quote(b"n" * 8, (PcrBank("sha1", (0,)),)).attest)
    assert clock_info.clock_info == tpm2.ClockInfo(1_000_000, 1, 0, False)


def test_bad_key_and_state_are_tpm_errors(tmp_path: Path) -> None:
    (tmp_path / "ak.pem").write_text("not a key")
    with pytest.raises(TpmError, match="cannot load key"):
        SoftwareAttester(tmp_path / "ak.pem", tmp_path / "s.json", Clock())
    generate_key(tmp_path / "ak.pem")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(TpmError, match="bad state file"):
        SoftwareAttester(tmp_path / "ak.pem", tmp_path / "s.json", Clock())
