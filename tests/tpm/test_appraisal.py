"""apmip's verifier against evidence from a real swtpm and from the software attester.

Every test runs once per attester kind (``swtpm``, ``software``) with the same body and the
same expected verdict: the two produce the same TPM 2.0 structures, and the same verifier code
appraises them. Each refusal is asserted by its exact reason code, aspect and what it names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from apmip.attest import pki
from apmip.attest.attester import PcrBank
from apmip.attest.boot import BOOT_CHAIN
from apmip.attest.evidence import Evidence
from apmip.attest.local import DEFAULT_SELECTION, LocalEvidence
from apmip.attest.refvals import ReferenceValues
from apmip.attest.trust import TrustStore

from .platforms import (
    CONTEXT,
    KINDS,
    NONCE,
    NOW,
    Platform,
    config_file,
    program_file,
    verifier_for,
)
from .skips import require_swtpm

pytestmark = pytest.mark.swtpm

MakePlatform = Callable[..., Platform]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_ca(directory, NOW)
    return directory


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str, pki_dir: Path, tmp_path: Path) -> Iterator[MakePlatform]:
    """Build platforms of this test's kind, each with its own device name, and close them."""
    if kind == "swtpm":
        require_swtpm()  # the software attester's half runs without swtpm
    made: list[Platform] = []

    def build(**kwargs: object) -> Platform:
        # a PrintableString serial: letters, digits and hyphens
        name = re.sub(r"[^A-Za-z0-9]", "-", tmp_path.name) + f"-{len(made)}"
        files = kwargs.pop("files", None)
        if files is None:
            files = [
                config_file(tmp_path / "etc" / "mag.toml", '[mag]\nlma = "2001:db8::100"\n'),
                program_file(tmp_path / "bin", "helper.py", b"print('helper 1.0')\n"),
            ]
        platform = Platform(
            kind,
            tmp_path / name,
            pki_dir,
            name,
            files,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(platform)
        return platform

    yield build
    for platform in made:
        platform.close()


# -- genuine evidence, freshness and binding --


def test_genuine_evidence_is_accepted(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT, now=NOW)
    assert (result.verdict, result.reason, result.reference_set) == ("accept", "ok", "golden")
    assert result.serial == p.serial
    idevid = pki.load_cert(pki_dir / "devices" / p.name / "idevid.cert.pem")
    assert result.fingerprint == pki.hardware_fingerprint(idevid)
    assert {tier for _, tier in result.tiers} == {"affirming"}
    clock = p.clock_info()
    assert result.clock is not None
    assert (result.clock.reset_count, result.clock.restart_count, result.clock.safe) == (
        clock.reset_count,
        clock.restart_count,
        True,
    )


def test_one_quote_verified_then_refused_three_ways(make: MakePlatform, pki_dir: Path) -> None:
    """The same evidence bytes: accepted, then refused for a wrong nonce, a flipped bit in the
    quote and in its signature, and by a verifier that does not know the key."""
    p = make()
    references = p.references()
    verifier = verifier_for(pki_dir, references)
    evidence = p.evidence()
    assert verifier.appraise(evidence, NONCE, CONTEXT).reason == "ok"
    assert verifier.appraise(evidence, bytes(16), CONTEXT).reason == "replay"
    parsed = Evidence.from_bytes(evidence)
    for part in ("attest", "signature"):
        flipped = bytearray(getattr(parsed, part))
        flipped[-1] ^= 0x01  # last byte of pcrDigest, of ECDSA s
        tampered = dataclasses.replace(parsed, **{part: bytes(flipped)}).to_bytes()
        assert verifier.appraise(tampered, NONCE, CONTEXT).reason == "signature"
    ca = pki.load_cert(pki_dir / "ca" / "ca.cert.pem")
    stranger = verifier_for(pki_dir, references, trust=TrustStore([ca]))
    assert stranger.appraise(evidence, NONCE, CONTEXT).reason == "unknown-key"


def test_replayed_quote_from_an_earlier_nonce(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    earlier = p.evidence(bytes(range(100, 116)))
    assert verifier.appraise(earlier, bytes(range(100, 116)), CONTEXT).verdict == "accept"
    result = verifier.appraise(earlier, NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "replay",
        "instance-identity",
    )
    assert result.message == (
        f"the quote answers an earlier nonce {bytes(range(100, 116)).hex()}, not {NONCE.hex()}"
    )


@pytest.mark.parametrize(
    ("other", "detail"),
    [
        (
            dataclasses.replace(CONTEXT, receiver="2001:db8::200"),
            "receiver '2001:db8::200', not '2001:db8::100'",
        ),
        (
            dataclasses.replace(CONTEXT, sender="2001:db8::2"),
            "sender '2001:db8::2', not '2001:db8::1'",
        ),
        (
            dataclasses.replace(CONTEXT, mn_id=b"mn2@example"),
            "mn_id b'mn2@example', not b'mn1@example'",
        ),
        (dataclasses.replace(CONTEXT, sequence=8), "sequence 8, not 7"),
    ],
    ids=["other-lma", "other-mag", "other-mobile-node", "other-sequence"],
)
def test_quote_bound_to_another_exchange(
    make: MakePlatform, pki_dir: Path, other: object, detail: str
) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    evidence = p.evidence(NONCE, other)  # type: ignore[arg-type]
    result = verifier.appraise(evidence, NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "relay",
        "instance-identity",
    )
    assert result.message == (
        f"the quote answers this nonce but was bound to another exchange: {detail}"
    )


# -- one flipped bit anywhere --

# TPMS_ATTEST of a quote over one bank (TPM 2.0 Part 2, TPMS_ATTEST), field by field, with the
# refusal a flipped bit in it must cause: a length or count that no longer matches the bytes
# is malformed; any other bit only breaks the signature (checked before magic and type)
ATTEST_FIELDS = (
    ("magic", 4, "signature"),
    ("type", 2, "signature"),
    ("qualifiedSigner.size", 2, "malformed"),
    ("qualifiedSigner.name", 34, "signature"),
    ("extraData.size", 2, "malformed"),
    ("extraData.buffer", 32, "signature"),
    ("clockInfo.clock", 8, "signature"),
    ("clockInfo.resetCount", 4, "signature"),
    ("clockInfo.restartCount", 4, "signature"),
    ("clockInfo.safe", 1, "safe"),  # TPMI_YES_NO: only the lowest bit keeps it 0 or 1
    ("firmwareVersion", 8, "signature"),
    ("pcrSelect.count", 4, "malformed"),
    ("pcrSelect[0].hash", 2, "malformed"),
    ("pcrSelect[0].sizeofSelect", 1, "malformed"),
    ("pcrSelect[0].pcrSelect", 3, "signature"),
    ("pcrDigest.size", 2, "malformed"),
    ("pcrDigest.buffer", 32, "signature"),
)
# TPMT_SIGNATURE with ECDSA (Part 2, 11.3.4): algorithm and hash, then r and s
SIGNATURE_FIELDS = (
    ("sigAlg", 2, "malformed"),
    ("hash", 2, "malformed"),
    ("signatureR.size", 2, "malformed"),
    ("signatureR.buffer", 32, "signature"),
    ("signatureS.size", 2, "malformed"),
    ("signatureS.buffer", 32, "signature"),
)


def _expected(fields: tuple[tuple[str, int, str], ...]) -> list[tuple[str, str]]:
    """(field, reason) for every bit of the structure, in order, most significant bit first."""
    out = []
    for name, size, reason in fields:
        for bit in range(size * 8):
            if reason == "safe":
                out.append((name, "signature" if bit % 8 == 7 else "malformed"))
            else:
                out.append((name, reason))
    return out


@pytest.mark.parametrize(
    ("part", "fields"), [("attest", ATTEST_FIELDS), ("signature", SIGNATURE_FIELDS)]
)
def test_every_flipped_bit_is_refused(
    make: MakePlatform, pki_dir: Path, part: str, fields: tuple[tuple[str, int, str], ...]
) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    evidence = Evidence.from_bytes(p.evidence())
    data = getattr(evidence, part)
    expected = _expected(fields)
    assert len(expected) == len(data) * 8
    found = []
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        tampered = dataclasses.replace(evidence, **{part: bytes(flipped)}).to_bytes()
        result = verifier.appraise(tampered, NONCE, CONTEXT)
        found.append(
            (expected[bit][0], result.reason if result.verdict == "reject" else "ACCEPTED")
        )
    wrong = [(bit, e, f) for bit, (e, f) in enumerate(zip(expected, found, strict=True)) if e != f]
    assert wrong == []


# -- identity: key, CA, revocation --


def test_unknown_key_is_refused(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    ca = pki.load_cert(pki_dir / "ca" / "ca.cert.pem")
    verifier = verifier_for(pki_dir, p.references(), trust=TrustStore([ca]))
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "unknown-key",
        "instance-identity",
    )
    digest = hashlib.sha256(p.ak_cert_der).hexdigest()
    assert result.message == f"no provisioned AK certificate has SHA-256 {digest}"


def test_key_certified_by_an_untrusted_ca_is_refused(
    make: MakePlatform, pki_dir: Path, tmp_path: Path
) -> None:
    p = make()
    rogue = tmp_path / "rogue-pki"
    pki.init_ca(rogue, NOW, name="Rogue Manufacturer CA")
    # the same AK, certified by a CA the verifier does not trust
    paths = pki.issue_device(rogue, p.name, p.serial, NOW, p.attester.ak_public_pem())
    trust = TrustStore.from_pki_dir(pki_dir)
    trust.add_device_dir(paths.directory)
    rogue_der = pki.load_cert(paths.ak_cert).public_bytes(serialization.Encoding.DER)
    local = LocalEvidence(p.attester, rogue_der, p.selection, p.events)
    verifier = verifier_for(pki_dir, p.references(), trust=trust)
    result = verifier.appraise(local.produce(NONCE, CONTEXT), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "untrusted-ca", "hardware")
    assert "Rogue Manufacturer CA" in result.message
    # the genuine certificate of the same key still verifies
    assert verifier.appraise(p.evidence(), NONCE, CONTEXT).verdict == "accept"


def test_revoked_device_is_refused(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    trust = TrustStore.from_pki_dir(pki_dir)
    trust.revoke(p.serial)
    verifier = verifier_for(pki_dir, p.references(), trust=trust)
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "revoked", "hardware")
    assert result.message == f"device serial {p.serial} is revoked"


# -- what was measured: boot chain, program files, configuration --


def test_changed_boot_component_is_named(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    chain = list(BOOT_CHAIN)
    at = next(i for i, c in enumerate(chain) if c.name == "grubx64.efi 2.06")
    chain[at] = dataclasses.replace(chain[at], content=b"GRUB 2.06 with a backdoor")
    p.chain = tuple(chain)
    p.power_cycle()  # the device boots the changed boot loader
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "reference", "executables")
    assert result.message.startswith("PCR 4 (sha256): bootloader 'grubx64.efi 2.06' differs")
    assert hashlib.sha256(b"GRUB 2.06 with a backdoor").hexdigest()[:8] in result.message


def test_changed_program_file_is_named(make: MakePlatform, pki_dir: Path, tmp_path: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    (tmp_path / "bin" / "helper.py").write_bytes(b"print('helper 1.0'); exfiltrate()\n")
    p.power_cycle()
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "reference", "executables")
    assert result.message.startswith("PCR 13 (sha256): executable 'apmip-extra/helper.py' differs")


def test_changed_configuration_file_is_named(
    make: MakePlatform, pki_dir: Path, tmp_path: Path
) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    config = tmp_path / "etc" / "mag.toml"
    config.write_text(config.read_text() + 'lma = "2001:db8::666"\n')
    p.power_cycle()
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "reference",
        "configuration",
    )
    assert result.message.startswith(f"PCR 13 (sha256): config '{config}' differs")


# -- banks and selections --


def test_sha1_quote_where_sha256_is_requested(make: MakePlatform, pki_dir: Path) -> None:
    sha1 = (PcrBank("sha1", DEFAULT_SELECTION[0].pcrs),)
    p = make(selection=sha1)
    references = p.references()
    verifier = verifier_for(pki_dir, references)  # asks for SHA-256
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason) == ("reject", "pcr-selection")
    assert (
        result.message == "quote selects sha1:0,1,2,4,7,8,9,13, requested sha256:0,1,2,4,7,8,9,13"
    )


def test_sha1_quote_against_sha256_references(make: MakePlatform, pki_dir: Path) -> None:
    sha1 = (PcrBank("sha1", DEFAULT_SELECTION[0].pcrs),)
    p = make(selection=sha1)
    # the device extends both banks; the operator recorded only its SHA-256 values
    references = ReferenceValues.record(p.attester, DEFAULT_SELECTION, p.events, name="golden")
    verifier = verifier_for(pki_dir, references, selection=sha1)
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "no-reference", "hardware")
    assert (
        result.message == "PCR 0 (sha1): reference set 'golden' holds no sha1 value for this PCR"
    )


SELECTIONS = {
    "7-pcrs": (PcrBank("sha256", (0, 1, 2, 4, 7, 8, 9)),),
    "8-pcrs": (PcrBank("sha256", (0, 1, 2, 4, 7, 8, 9, 13)),),
    "9-pcrs": (PcrBank("sha256", (0, 1, 2, 4, 5, 7, 8, 9, 13)),),
    "24-pcrs": (PcrBank("sha256", tuple(range(24))),),
    "two-banks": (
        PcrBank("sha256", (0, 1, 2, 4, 7, 8, 9, 13)),
        PcrBank("sha1", (0, 1, 2, 4, 7, 8, 9, 13)),
    ),
}
# the PCR whose value the test then changes, and in which bank
CHANGED = {
    "7-pcrs": ("sha256", 9, "executables"),
    "8-pcrs": ("sha256", 8, "configuration"),
    "9-pcrs": ("sha256", 5, "configuration"),
    "24-pcrs": ("sha256", 23, "runtime"),
    "two-banks": ("sha1", 7, "configuration"),
}


@pytest.mark.parametrize("name", list(SELECTIONS))
def test_selection_verifies_and_one_changed_value_fails(
    make: MakePlatform, pki_dir: Path, name: str
) -> None:
    selection = SELECTIONS[name]
    p = make(selection=selection)
    verifier = verifier_for(pki_dir, p.references(), selection=selection)
    genuine = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (genuine.verdict, genuine.reason) == ("accept", "ok")
    count = sum(len(b.pcrs) for b in selection)
    assert len(Evidence.from_bytes(p.evidence()).pcr_values) == count

    bank, index, aspect = CHANGED[name]
    size = 32 if bank == "sha256" else 20
    p.attester.extend(index, {bank: b"\x5a" * size})  # one bank only
    result = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "reference", aspect)
    assert result.message.startswith(f"PCR {index} ({bank}): expected ")


# -- TPM life cycle: reboot and restart are not tampering --


def test_power_cycle_means_fresh_appraisal(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    first = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert first.verdict == "accept" and first.clock is not None
    p.power_cycle()
    nonce = bytes(range(50, 66))
    second = verifier.appraise(p.evidence(nonce), nonce, CONTEXT, previous=first.clock)
    assert (second.verdict, second.reason, second.aspect) == ("warn", "reboot", "runtime")
    assert second.reference_set == "golden"  # the whole appraisal ran and passed
    assert second.clock is not None
    assert (second.clock.reset_count, second.clock.restart_count) == (
        first.clock.reset_count + 1,
        0,
    )
    assert second.message == (
        f"resetCount {first.clock.reset_count} -> {first.clock.reset_count + 1}: the peer "
        "rebooted since its last appraisal; appraised afresh in full"
    )
    third = verifier.appraise(p.evidence(), NONCE, CONTEXT, previous=second.clock)
    assert (third.verdict, third.reason) == ("accept", "ok")


def test_tpm_restart_means_fresh_appraisal(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    first = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    assert first.verdict == "accept" and first.clock is not None
    p.restart()
    second = verifier.appraise(p.evidence(), NONCE, CONTEXT, previous=first.clock)
    assert (second.verdict, second.reason, second.aspect) == ("warn", "restart", "runtime")
    assert second.reference_set == "golden"
    assert second.clock is not None
    assert (second.clock.reset_count, second.clock.restart_count) == (
        first.clock.reset_count,
        first.clock.restart_count + 1,
    )
    assert "appraised afresh in full" in second.message


def test_power_loss_is_reported_as_unsafe_clock(make: MakePlatform, pki_dir: Path) -> None:
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    first = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    p.power_cycle(orderly=False)
    second = verifier.appraise(p.evidence(), NONCE, CONTEXT, previous=first.clock)
    assert (second.verdict, second.reason) == ("warn", "clock-unsafe")
    assert [w.split(":")[0] for w in second.warnings] == ["clock-unsafe", "reboot"]


def test_rolled_back_tpm_state_is_refused(make: MakePlatform, pki_dir: Path) -> None:
    """Copying back an old TPM state (swtpm's files, the software attester's state file) sends
    resetCount back: refused as counter-rollback, which no policy can soften."""
    p = make()
    verifier = verifier_for(pki_dir, p.references())
    first = verifier.appraise(p.evidence(), NONCE, CONTEXT)
    old = p.snapshot()
    p.power_cycle()
    p.power_cycle()
    second = verifier.appraise(p.evidence(), NONCE, CONTEXT, previous=first.clock)
    assert (second.verdict, second.reason) == ("warn", "reboot")
    assert second.clock is not None
    p.restore(old)
    third = verifier.appraise(p.evidence(), NONCE, CONTEXT, previous=second.clock)
    assert (third.verdict, third.reason, third.aspect) == ("reject", "counter-rollback", "runtime")
    assert third.clock is not None and third.clock.reset_count < second.clock.reset_count
    assert third.message.startswith(
        f"resetCount/restartCount ({third.clock.reset_count}, 0) went back from "
        f"({second.clock.reset_count}, 0)"
    )
