"""TCG crypto-agile event logs: hand-built bytes, replay, and naming through the verifier."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from pathlib import Path

import pytest

from apmip.attest.attester import PcrBank
from apmip.attest.boot import BOOT_CHAIN, simulate_boot
from apmip.attest.eventlog import encode_log, parse_log
from apmip.attest.events import Event
from apmip.attest.evidence import Evidence, PcrValue
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier
from apmip.errors import EvidenceError

from .conftest import Node, make_node

SPEC_ID = (
    b"Spec ID Event03\x00"
    + bytes.fromhex("0000000000020002")  # class, minor, major, errata, UINT64
    + bytes.fromhex("02000000040014000b002000")  # two algorithms: sha1/20, sha256/32
    + b"\x00"  # vendorInfoSize
)
HEADER = bytes.fromhex("0000000003000000") + bytes(20) + struct.pack("<I", 37) + SPEC_ID


def test_log_bytes_by_hand() -> None:
    event = Event(0, "firmware", "fw", hashlib.sha256(b"fw image").digest())
    data = b"apmip measured event v1\x00" + b"\x08firmware" + b"\x00\x02fw" + event.sha256
    record = (
        bytes.fromhex("000000000800008002000000")  # PCR 0, EV_EFI_PLATFORM_FIRMWARE_BLOB
        + bytes.fromhex("0400")
        + hashlib.sha1(data).digest()
        + bytes.fromhex("0b00")
        + hashlib.sha256(data).digest()
        + struct.pack("<I", len(data))
        + data
    )
    assert len(SPEC_ID) == 37
    assert encode_log([event]) == HEADER + record
    log = parse_log(HEADER + record)
    assert log.banks == ("sha1", "sha256")
    assert log.events() == (event,)
    assert (
        log.replay("sha256", 0)
        == hashlib.sha256(bytes(32) + hashlib.sha256(data).digest()).digest()
    )


def test_log_of_the_boot_replays_to_the_attester(node: Node) -> None:
    boot = node.events[: len(BOOT_CHAIN)]
    log = parse_log(encode_log(boot))
    values = node.attester.pcr_read((PcrBank("sha256", (0, 4, 9)), PcrBank("sha1", (7,))))
    for (bank, pcr), value in values.items():
        assert log.replay(bank, pcr) == value
    assert log.events() == boot
    assert log.inconsistent() is None


def test_foreign_records_are_named_by_type_and_text() -> None:
    data = b"grub_cmd: linux /vmlinuz\x00"
    record = (
        bytes.fromhex("080000000d000000010000000b00")
        + hashlib.sha256(data).digest()
        + struct.pack("<I", len(data))
        + data
    )
    log = parse_log(HEADER + record)
    (event,) = log.events()
    assert (event.pcr, event.kind, event.name) == (
        8,
        "kernel",
        "EV_IPL #1 'grub_cmd: linux /vmlinuz'",
    )
    assert event.sha256 == hashlib.sha256(data).digest()
    with pytest.raises(EvidenceError, match="a PCR 8 record has no sha1 digest"):
        log.replay("sha1", 8)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (HEADER[:-1], "header.event at offset 32: needs 37 bytes, only 36 left"),
        (b"\x01" + HEADER[1:], "header at offset 0: PCR 1 type 0x00000003"),
        (HEADER[:32] + b"Spec ID Event02\x00" + HEADER[48:], "not a 'Spec ID Event03'"),
        (
            HEADER + bytes.fromhex("000000000100000009000000"),
            "digests.count at offset 77: 9 exceeds 8",
        ),
        (
            HEADER + bytes.fromhex("0000000001000000010000000c00"),
            "digests[0].hashAlg at offset 81: 0x000c not in the header",
        ),
        (
            HEADER + bytes.fromhex("00000000010000000000000001001000"),
            "eventSize at offset 81: 1048577 exceeds 1048576",
        ),
    ],
)
def test_log_strictness(data: bytes, message: str) -> None:
    with pytest.raises(EvidenceError) as info:
        parse_log(data)
    assert message in str(info.value)


def _quote_parts(node: Node, selection: tuple[PcrBank, ...]) -> Evidence:
    quote = node.attester.quote(b"q" * 16, selection)
    read = node.attester.pcr_read(selection)
    values = tuple(
        PcrValue(b.hash_alg, p, read[(b.hash_alg, p)]) for b in selection for p in b.pcrs
    )
    return Evidence(quote.attest, quote.signature, node.local.ak_cert_digest, values)


SELECTION = (PcrBank("sha256", (0, 4, 7, 9)),)


@pytest.fixture
def log_verifier(node: Node, pki_dir: Path) -> Verifier:
    boot = node.events[: len(BOOT_CHAIN)]
    refs = ReferenceValues.record(node.attester, SELECTION, boot, name="boot", replay_pcrs=())
    return Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), SELECTION)


def test_quote_with_its_log_is_accepted(node: Node, log_verifier: Verifier) -> None:
    log = parse_log(encode_log(node.events[: len(BOOT_CHAIN)]))
    result = log_verifier.appraise_quote(_quote_parts(node, SELECTION), b"q" * 16, event_log=log)
    assert (result.verdict, result.reason, result.reference_set) == ("accept", "ok", "boot")


def test_changed_component_is_named_from_the_log(
    pki_dir: Path, tmp_path: Path, log_verifier: Verifier
) -> None:
    chain = [
        dataclasses.replace(c, content=b"evil shim") if c.name == "grubx64.efi 2.06" else c
        for c in BOOT_CHAIN
    ]
    other = make_node(pki_dir, tmp_path / "o")
    other.attester.power_cycle()
    log = parse_log(encode_log(simulate_boot(other.attester, chain)))
    evidence = _quote_parts(other, SELECTION)  # no hints: only the log can name it
    result = log_verifier.appraise_quote(evidence, b"q" * 16, event_log=log)
    assert (result.reason, result.aspect) == ("reference", "executables")
    assert result.message.startswith("PCR 4 (sha256): bootloader 'grubx64.efi 2.06' differs")
    assert hashlib.sha256(b"evil shim").hexdigest()[:8] in result.message
    without = log_verifier.appraise_quote(evidence, b"q" * 16)
    assert without.message.startswith("PCR 4 (sha256): expected ")


def test_log_that_does_not_replay_is_refused(node: Node, log_verifier: Verifier) -> None:
    boot = list(node.events[: len(BOOT_CHAIN)])
    boot.pop(4)  # drop the boot loader record: PCR 4 no longer replays
    log = parse_log(encode_log(boot))
    result = log_verifier.appraise_quote(_quote_parts(node, SELECTION), b"q" * 16, event_log=log)
    assert (result.reason, result.aspect) == ("log-replay", "runtime")
    assert result.message.startswith("PCR 4 (sha256): the event log replays to ")


def test_log_whose_data_lies_about_its_digest_is_refused(
    node: Node, log_verifier: Verifier
) -> None:
    data = bytearray(encode_log(node.events[: len(BOOT_CHAIN)]))
    at = data.find(b"simulated") if b"simulated" in data else data.find(b"apmip-sim-firmware")
    data[at] ^= 0x20
    result = log_verifier.appraise_quote(
        _quote_parts(node, SELECTION), b"q" * 16, event_log=parse_log(bytes(data))
    )
    assert (result.reason, result.message) == (
        "log-replay",
        "event log record #1 (PCR 0): sha1 digest is not of its data",
    )


def test_log_without_the_quoted_bank_is_refused(node: Node, pki_dir: Path) -> None:
    sha1 = (PcrBank("sha1", (0,)),)
    refs = ReferenceValues.record(node.attester, sha1, (), name="s", replay_pcrs=())
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), sha1)
    log = parse_log(encode_log(node.events[:1], banks=("sha256",)))
    result = verifier.appraise_quote(_quote_parts(node, sha1), b"q" * 16, event_log=log)
    assert (result.reason, result.message) == (
        "log-replay",
        "the event log has no sha1 digests (it has sha256)",
    )


def test_startup_locality_sets_pcr0_start() -> None:
    data = b"StartupLocality\x00\x03"
    no_action = (
        bytes.fromhex("0000000003000000020000000400")
        + bytes(20)
        + bytes.fromhex("0b00")
        + bytes(32)
        + struct.pack("<I", len(data))
        + data
    )
    digest = hashlib.sha256(b"crtm").digest()
    record = (
        bytes.fromhex("0000000008000000010000000b00") + digest + struct.pack("<I", 4) + b"crtm"
    )
    log = parse_log(HEADER + no_action + record)
    assert log.startup_locality() == 3
    assert log.replay("sha256", 0) == hashlib.sha256(bytes(31) + b"\x03" + digest).digest()
    # the EV_NO_ACTION record itself extends nothing and names nothing
    assert [e.pcr for e in log.events()] == [0]


def _foreign_log(apps: list[bytes]) -> bytes:
    """A firmware-style log: one EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 per image."""
    out = HEADER
    for image in apps:
        data = b"\x01\x02device-path"  # binary, not printable: named by type and position
        out += bytes.fromhex("0400000003000080020000000400") + hashlib.sha1(image).digest()
        out += bytes.fromhex("0b00") + hashlib.sha256(image).digest()
        out += struct.pack("<I", len(data)) + data
    return out


def test_foreign_log_names_the_inserted_application(node: Node, pki_dir: Path) -> None:
    selection = (PcrBank("sha256", (4,)),)
    good = [b"shim", b"grub"]
    node.attester.power_cycle()
    for image in good:
        node.attester.extend(
            4, {"sha256": hashlib.sha256(image).digest(), "sha1": hashlib.sha1(image).digest()}
        )
    refs = ReferenceValues.record(
        node.attester, selection, parse_log(_foreign_log(good)).events(), name="fw", replay_pcrs=()
    )
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), selection)
    log = parse_log(_foreign_log(good))
    assert (
        verifier.appraise_quote(_quote_parts(node, selection), b"q" * 16, event_log=log).reason
        == "ok"
    )

    evil = [b"bootkit", *good]
    node.attester.power_cycle()
    for image in evil:
        node.attester.extend(
            4, {"sha256": hashlib.sha256(image).digest(), "sha1": hashlib.sha1(image).digest()}
        )
    log = parse_log(_foreign_log(evil))
    result = verifier.appraise_quote(_quote_parts(node, selection), b"q" * 16, event_log=log)
    assert (result.reason, result.aspect) == ("reference", "executables")
    assert result.message == (
        "PCR 4 (sha256): bootloader 'EV_EFI_BOOT_SERVICES_APPLICATION #1' differs: expected "
        f"sha256 {hashlib.sha256(b'shim').hexdigest()}, found "
        f"{hashlib.sha256(b'bootkit').hexdigest()}"
    )
