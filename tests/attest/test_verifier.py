"""The verifier against software-attester evidence: acceptance and each refusal, exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from apmip.attest import pki
from apmip.attest.attester import PcrBank
from apmip.attest.binding import EXTRA_CLAIM, encode_claim
from apmip.attest.boot import BOOT_CHAIN, simulate_boot
from apmip.attest.evidence import Evidence
from apmip.attest.local import DEFAULT_SELECTION
from apmip.attest.measure import config_items, measure, package_items
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier

from .conftest import CONTEXT, NONCE, NOW, Node, make_node


def test_genuine_evidence_is_accepted(node: Node, verifier: Verifier, pki_dir: Path) -> None:
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT, now=NOW)
    assert (result.verdict, result.reason) == ("accept", "ok")
    assert result.serial == "MAG-0001"
    idevid = pki.load_cert(pki_dir / "devices" / "mag1" / "idevid.cert.pem")
    assert result.fingerprint == pki.hardware_fingerprint(idevid)
    assert len(result.fingerprint) == 64
    assert result.reference_set == "mag-golden"
    assert dict(result.tiers) == {
        "hardware": "affirming",
        "instance-identity": "affirming",
        "executables": "affirming",
        "configuration": "affirming",
        "file-system": "affirming",
        "runtime": "affirming",
    }
    assert result.clock is not None
    assert (result.clock.clock, result.clock.reset_count, result.clock.safe) == (
        1_000_000,
        0,
        True,
    )


def test_evidence_size_for_eight_sha256_pcrs(node: Node) -> None:
    evidence = Evidence.from_bytes(node.evidence())
    base = dataclasses.replace(evidence, hints=(), extras=())
    # 1 version + 2+attest + 2+signature(72) + 32 digest + 1 + 8*(3+32) + 1 extras
    attest_len = len(evidence.attest)
    assert len(evidence.signature) == 72
    assert len(base.to_bytes()) == 1 + 2 + attest_len + 2 + 72 + 32 + 1 + 8 * 35 + 1
    assert len(base.to_bytes()) < 600
    # the claimed binding: nonce, role, addresses, MN identifier, sequence, each prefixed
    claim = dict(evidence.extras)[EXTRA_CLAIM]
    assert claim == encode_claim(NONCE, CONTEXT)
    assert len(claim) == 1 + 16 + 1 + 3 + 1 + 11 + 1 + 13 + 1 + len(CONTEXT.mn_id) + 2
    assert len(node.evidence()) < 1500


@pytest.mark.parametrize(
    ("nonce", "context", "reason", "detail"),
    [
        (
            bytes(range(1, 17)),
            CONTEXT,
            "replay",
            f"the quote answers an earlier nonce {bytes(range(1, 17)).hex()}, not {NONCE.hex()}",
        ),
        (
            NONCE,
            dataclasses.replace(CONTEXT, receiver="2001:db8::101"),
            "relay",
            "receiver '2001:db8::101', not '2001:db8::100'",
        ),
        (
            NONCE,
            dataclasses.replace(CONTEXT, sender="2001:db8::2"),
            "relay",
            "sender '2001:db8::2', not '2001:db8::1'",
        ),
        (
            NONCE,
            dataclasses.replace(CONTEXT, mn_id=b"mn2@example"),
            "relay",
            "mn_id b'mn2@example', not b'mn1@example'",
        ),
        (NONCE, dataclasses.replace(CONTEXT, sequence=8), "relay", "sequence 8, not 7"),
        (NONCE, dataclasses.replace(CONTEXT, role="lma"), "relay", "role 'lma', not 'mag'"),
    ],
    ids=["old-nonce", "other-peer", "other-sender", "other-mn", "other-sequence", "other-role"],
)
def test_replayed_or_relayed_evidence_is_refused(
    node: Node, verifier: Verifier, nonce: bytes, context: object, reason: str, detail: str
) -> None:
    evidence = node.evidence(nonce, context)  # type: ignore[arg-type]
    result = verifier.appraise(evidence, NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        reason,
        "instance-identity",
    )
    assert result.message.endswith(detail)
    assert result.tier("instance-identity") == "contraindicated"
    assert result.tier("hardware") == "affirming"
    assert result.tier("executables") == "none"


def test_a_false_claim_changes_nothing_but_the_wording(node: Node, verifier: Verifier) -> None:
    """A claimed binding that is not what the quote signed is ignored: still refused, as
    "nonce", never accepted."""
    genuine = Evidence.from_bytes(node.evidence(bytes(range(1, 17)), CONTEXT))
    lie = dataclasses.replace(genuine, extras=((EXTRA_CLAIM, encode_claim(NONCE, CONTEXT)),))
    result = verifier.appraise(lie.to_bytes(), NONCE, CONTEXT)
    assert (result.verdict, result.reason) == ("reject", "nonce")


def _locate(data: bytes, part: bytes) -> int:
    at = data.find(part)
    assert at > 0
    return at


def _flip_everywhere(node: Node, verifier: Verifier, field: str) -> set[str]:
    data = node.evidence()
    evidence = Evidence.from_bytes(data)
    part = getattr(evidence, field)
    start = _locate(data, part)
    reasons = set()
    for byte in range(len(part)):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[start + byte] ^= 1 << bit
            result = verifier.appraise(bytes(bad), NONCE, CONTEXT)
            assert result.verdict == "reject", (field, byte, bit)
            reasons.add(result.reason)
    return reasons


def test_flipped_bit_in_attest_is_refused(node: Node, verifier: Verifier) -> None:
    # a flip that still parses breaks the signature; one that does not parse is malformed
    assert _flip_everywhere(node, verifier, "attest") == {"signature", "malformed"}
    data = bytearray(node.evidence())
    start = _locate(bytes(data), Evidence.from_bytes(bytes(data)).attest)
    data[start + 20] ^= 0x01  # inside extraData: still parses
    result = verifier.appraise(bytes(data), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("signature", "instance-identity")


def test_flipped_bit_in_signature_is_refused(node: Node, verifier: Verifier) -> None:
    assert _flip_everywhere(node, verifier, "signature") <= {"signature", "malformed", "scheme"}
    data = bytearray(node.evidence())
    evidence = Evidence.from_bytes(bytes(data))
    data[_locate(bytes(data), evidence.signature) + 40] ^= 0x80  # inside r
    result = verifier.appraise(bytes(data), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "signature",
        "instance-identity",
    )


def test_unknown_key_is_refused(node: Node, references: ReferenceValues) -> None:
    verifier = Verifier(TrustStore(), references, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("unknown-key", "instance-identity")
    digest = Evidence.from_bytes(node.evidence()).ak_cert_digest.hex()
    assert digest in result.message


def test_certificate_from_untrusted_ca_is_refused(
    node: Node, references: ReferenceValues, tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue"
    pki.init_ca(rogue, NOW, name="Rogue CA")
    pki.issue_device(rogue, "mag1", "MAG-0001", NOW, ak_public_pem=node.attester.ak_public_pem())
    trust = TrustStore.from_pki_dir(rogue, include_cas=False)
    trust.add_ca(pki.load_cert(node.paths.directory.parent.parent / "ca" / "ca.cert.pem"))
    rogue_ak = pki.load_cert(rogue / "devices" / "mag1" / "ak.cert.pem")
    node.local.ak_cert_digest = pki.cert_digest(rogue_ak)
    verifier = Verifier(trust, references, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("untrusted-ca", "hardware")
    assert "CN=Rogue CA" in result.message


def test_revoked_serial_is_refused(node: Node, references: ReferenceValues, pki_dir: Path) -> None:
    trust = TrustStore.from_pki_dir(pki_dir)
    trust.revoke("MAG-0001")
    verifier = Verifier(trust, references, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "revoked", "hardware")
    assert "MAG-0001" in result.message


def test_changed_pcr_is_named(node: Node, verifier: Verifier) -> None:
    node.attester.extend(7, {"sha256": bytes(32), "sha1": bytes(20)})
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("reference", "configuration")
    assert result.message.startswith("PCR 7 (sha256): expected ")


def test_changed_boot_component_is_named(
    pki_dir: Path, tmp_path: Path, verifier: Verifier
) -> None:
    chain = list(BOOT_CHAIN)
    kernel = next(i for i, c in enumerate(chain) if c.kind == "kernel")
    chain[kernel] = dataclasses.replace(chain[kernel], content=b"patched kernel")
    other = make_node(pki_dir, tmp_path)
    other.attester.power_cycle()
    events = simulate_boot(other.attester, chain)
    app = measure(other.attester, config_items([other.config]) + package_items("apmip.attest"))
    other.local.events = ()
    other.local.add_events(events + app)
    result = verifier.appraise(other.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("reference", "executables")
    assert "kernel 'vmlinuz-6.1.0' differs" in result.message
    assert chain[kernel].event().sha256[:4].hex() in result.message


def test_changed_configuration_file_is_named(pki_dir: Path, tmp_path: Path) -> None:
    golden = make_node(pki_dir, tmp_path)
    refs = ReferenceValues.record(
        golden.attester, DEFAULT_SELECTION, golden.events, name="mag1-golden"
    )
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), DEFAULT_SELECTION)
    golden.config.write_text(golden.config.read_text() + "lifetime = 1\n")
    tampered = make_node(pki_dir, tmp_path)  # same paths, fresh PCRs
    result = verifier.appraise(tampered.evidence(), NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "reference",
        "configuration",
    )
    assert f"config '{golden.config}' differs" in result.message
    assert result.message.startswith("PCR 13 (sha256): ")
    assert result.tier("configuration") == "contraindicated"


def test_unknown_measured_file_is_named(pki_dir: Path, tmp_path: Path, verifier: Verifier) -> None:
    other = make_node(pki_dir, tmp_path / "y")  # a config file at another path
    result = verifier.appraise(other.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("reference", "file-system")
    assert "not in reference set 'mag-golden'" in result.message


def test_selection_other_than_requested_is_refused(pki_dir: Path, tmp_path: Path) -> None:
    node = make_node(pki_dir, tmp_path, selection=(PcrBank("sha1", (0, 1, 2, 4, 7, 8, 9, 13)),))
    refs = ReferenceValues.record(node.attester, DEFAULT_SELECTION, node.events, name="g")
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("pcr-selection", "runtime")
    assert result.message == (
        "quote selects sha1:0,1,2,4,7,8,9,13, requested sha256:0,1,2,4,7,8,9,13"
    )


def test_sha1_bank_against_sha256_references_is_refused(pki_dir: Path, tmp_path: Path) -> None:
    sha1 = (PcrBank("sha1", (0, 1, 2, 4, 7, 8, 9, 13)),)
    node = make_node(pki_dir, tmp_path, selection=sha1)
    refs = ReferenceValues.record(node.attester, DEFAULT_SELECTION, node.events, name="g")
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), sha1)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("no-reference", "hardware")
    assert result.message == "PCR 0 (sha1): reference set 'g' holds no sha1 value for this PCR"


def test_pcr_value_not_matching_digest_is_refused(node: Node, verifier: Verifier) -> None:
    evidence = Evidence.from_bytes(node.evidence())
    values = list(evidence.pcr_values)
    values[3] = dataclasses.replace(values[3], value=bytes(32))
    forged = dataclasses.replace(evidence, pcr_values=tuple(values)).to_bytes()
    result = verifier.appraise(forged, NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("pcr-digest", "runtime")


def _resign(node: Node, attest: bytes) -> bytes:
    """The evidence with ``attest`` replaced and signed again with the node's real AK."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from apmip.attest import tpm2

    assert node.paths.ak_key is not None
    key = serialization.load_pem_private_key(node.paths.ak_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.sign(attest, ec.ECDSA(hashes.SHA256())))
    sig = tpm2.Signature(0x0018, 0x000B, r=r.to_bytes(32, "big"), s=s.to_bytes(32, "big"))
    evidence = Evidence.from_bytes(node.evidence())
    return dataclasses.replace(evidence, attest=attest, signature=sig.marshal()).to_bytes()


def test_signed_structure_that_is_not_a_quote_is_refused(node: Node, verifier: Verifier) -> None:
    attest = Evidence.from_bytes(node.evidence()).attest
    certify = attest[:4] + b"\x80\x17" + attest[6:]  # TPM_ST_ATTEST_CERTIFY, signed by the AK
    result = verifier.appraise(_resign(node, certify), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("not-a-quote", "instance-identity")
    assert result.message == (
        "magic 0xff544347 type 0x8017, expected magic 0xff544347 type 0x8018"
    )
    wrong_magic = b"\xff\x54\x43\x48" + attest[4:]
    result = verifier.appraise(_resign(node, wrong_magic), NONCE, CONTEXT)
    assert result.reason == "not-a-quote"


def test_genuine_resigned_quote_still_accepted(node: Node, verifier: Verifier) -> None:
    # guards the two tests above: re-signing by itself does not make evidence fail
    attest = Evidence.from_bytes(node.evidence()).attest
    assert verifier.appraise(_resign(node, attest), NONCE, CONTEXT).reason == "ok"


def test_truncated_evidence_is_malformed(node: Node, verifier: Verifier) -> None:
    data = node.evidence()
    result = verifier.appraise(data[:-1], NONCE, CONTEXT)
    assert (result.verdict, result.reason, result.aspect) == (
        "reject",
        "malformed",
        "instance-identity",
    )
    assert result.serial is None
    assert verifier.appraise(b"", NONCE, CONTEXT).reason == "malformed"


def test_certificates_not_yet_valid_are_refused(node: Node, verifier: Verifier) -> None:
    import datetime as dt

    result = verifier.appraise(node.evidence(), NONCE, CONTEXT, now=NOW - dt.timedelta(days=1))
    assert (result.reason, result.aspect) == ("expired", "hardware")


def test_evidence_of_another_provisioned_device_is_told_apart(
    pki_dir: Path, tmp_path: Path, verifier: Verifier
) -> None:
    other = make_node(pki_dir, tmp_path, name="mag2", serial="MAG-0002")
    result = verifier.appraise(other.evidence(), NONCE, CONTEXT)
    # mag2 is genuine hardware but its configuration file is not in mag1's reference set
    assert (result.verdict, result.reason, result.serial) == ("reject", "reference", "MAG-0002")
    assert result.tier("hardware") == "affirming"
    idevid = pki.load_cert(pki_dir / "devices" / "mag2" / "idevid.cert.pem")
    assert result.fingerprint == pki.hardware_fingerprint(idevid)
    mine = verifier.appraise(make_node(pki_dir, tmp_path / "m1").evidence(), NONCE, CONTEXT)
    assert mine.fingerprint is not None and mine.fingerprint != result.fingerprint


def test_reference_set_restricted_to_serials(node: Node, pki_dir: Path) -> None:
    refs = ReferenceValues.record(
        node.attester, DEFAULT_SELECTION, node.events, name="only-2", serials=("MAG-0002",)
    )
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.message) == (
        "no-reference",
        "no reference set applies to device MAG-0001",
    )


def test_best_matching_set_is_reported(node: Node, references: ReferenceValues) -> None:
    unrelated = dataclasses.replace(references.sets[0], name="other", pcrs=(), events=())
    refs = ReferenceValues((unrelated,)).merged(references)
    node.attester.extend(4, {"sha256": bytes(32)})  # an extend no event accounts for
    verifier = Verifier(verifier_trust(node), refs, Policy(), DEFAULT_SELECTION)
    result = verifier.appraise(node.evidence(), NONCE, CONTEXT)
    # "mag-golden" matches 7 of 8 PCRs, "other" none: the report comes from "mag-golden"
    assert (result.reason, result.aspect) == ("reference", "executables")
    assert result.message.startswith("PCR 4 (sha256): expected ")
    assert "(reference set 'mag-golden'), found " in result.message


def verifier_trust(node: Node) -> TrustStore:
    return TrustStore.from_pki_dir(node.paths.directory.parent.parent)


def test_daemon_that_measured_nothing_is_refused(pki_dir: Path, tmp_path: Path) -> None:
    golden = make_node(pki_dir, tmp_path)
    refs = ReferenceValues.record(golden.attester, DEFAULT_SELECTION, golden.events, name="g")
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), DEFAULT_SELECTION)
    silent = make_node(pki_dir, tmp_path)
    silent.attester.power_cycle()
    boot = simulate_boot(silent.attester)  # boots correctly, then skips its own measurement
    silent.local.events = ()
    silent.local.add_events(boot)
    result = verifier.appraise(silent.evidence(), NONCE, CONTEXT)
    assert (result.reason, result.aspect) == ("reference", "configuration")
    assert result.message == (
        f"PCR 13 (sha256): config '{golden.config}' of reference set 'g' was not measured"
    )


def test_daemon_that_skipped_its_configuration_is_refused(pki_dir: Path, tmp_path: Path) -> None:
    golden = make_node(pki_dir, tmp_path)
    refs = ReferenceValues.record(golden.attester, DEFAULT_SELECTION, golden.events, name="g")
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), refs, Policy(), DEFAULT_SELECTION)
    partial = make_node(pki_dir, tmp_path)
    partial.attester.power_cycle()
    events = simulate_boot(partial.attester) + measure(
        partial.attester, package_items("apmip.attest")
    )
    partial.local.events = ()
    partial.local.add_events(events)
    result = verifier.appraise(partial.evidence(), NONCE, CONTEXT)
    assert result.reason == "reference"
    assert "was not measured" in result.message and str(golden.config) in result.message
