"""The TPM attester on swtpm: quote bytes, signature, PCRs, the AK and TPM errors."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss import ESAPI
from tpm2_pytss.constants import ESYS_TR, TPM2_CAP

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import TpmAttester, decode_attest, pcr_selection
from apmip.errors import TpmCommandError, TpmError

from .skips import needs_swtpm

pytestmark = [pytest.mark.swtpm, needs_swtpm]

QD = hashlib.sha256(b"qualifying data").digest()
SEL = (PcrBank("sha256", (0, 1, 2, 13)),)


def verify_with_cryptography(pem: bytes, attest: bytes, signature: bytes) -> None:
    """Check a quote with nothing from apmip's verifier: the TPMT_SIGNATURE decoded by hand
    (TPM 2.0 Part 2, 11.3.4) and the public key from ak_public_pem."""
    key = serialization.load_pem_public_key(pem)
    sig_alg, hash_alg = (
        int.from_bytes(signature[0:2], "big"),
        int.from_bytes(signature[2:4], "big"),
    )
    digest = {0x000B: hashes.SHA256(), 0x000C: hashes.SHA384()}[hash_alg]
    if sig_alg == 0x0018:  # TPM_ALG_ECDSA: r and s as TPM2B_ECC_PARAMETER
        assert isinstance(key, ec.EllipticCurvePublicKey)
        r_len = int.from_bytes(signature[4:6], "big")
        r = int.from_bytes(signature[6 : 6 + r_len], "big")
        s_len = int.from_bytes(signature[6 + r_len : 8 + r_len], "big")
        s = int.from_bytes(signature[8 + r_len : 8 + r_len + s_len], "big")
        assert len(signature) == 8 + r_len + s_len
        key.verify(encode_dss_signature(r, s), attest, ec.ECDSA(digest))
        return
    assert isinstance(key, rsa.RSAPublicKey)
    size = int.from_bytes(signature[4:6], "big")
    assert size == key.key_size // 8 and len(signature) == 6 + size
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if sig_alg == 0x0016:  # TPM_ALG_RSAPSS
        pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.AUTO)
    else:
        assert sig_alg == 0x0014  # TPM_ALG_RSASSA
    key.verify(signature[6:], attest, pad, digest)


def test_quote_verifies_with_cryptography_and_decodes(module_attester: TpmAttester) -> None:
    tpm = module_attester
    quote = tpm.quote(QD, SEL)
    verify_with_cryptography(tpm.ak_public_pem(), quote.attest, quote.signature)

    # TPMS_ATTEST of a P-256 quote of one bank: 145 bytes; ECDSA P-256 TPMT_SIGNATURE: 72
    assert (len(quote.attest), len(quote.signature)) == (145, 72)
    assert quote.attest[:6] == bytes.fromhex("ff544347 8018")  # TPM_GENERATED, ATTEST_QUOTE
    assert quote.signature[:4] == bytes.fromhex("0018 000b")  # ECDSA, SHA-256

    attest = tpm2.parse_attest(quote.attest)
    assert attest.extra_data == QD
    assert attest.qualified_signer == tpm.ak_qualified_name()
    assert attest.quote is not None
    assert [(s.bank, s.pcrs) for s in attest.quote.pcr_select] == [("sha256", (0, 1, 2, 13))]
    values = tpm.pcr_read(SEL)
    expected = hashlib.sha256(b"".join(values[("sha256", i)] for i in (0, 1, 2, 13))).digest()
    assert attest.quote.pcr_digest == expected

    # tpm2-pytss's own decoder agrees with apmip's parser
    theirs = decode_attest(quote.attest)
    assert bytes(theirs.extraData) == QD
    assert int(theirs.clockInfo.resetCount) == attest.clock_info.reset_count
    assert int(theirs.firmwareVersion) == attest.firmware_version


def test_ak_is_a_restricted_signing_primary_of_the_endorsement_hierarchy(
    module_attester: TpmAttester,
) -> None:
    tpm = module_attester
    area = tpm.ak_public_area()  # TPM2B_PUBLIC (TPM 2.0 Part 2, 12.2), decoded by hand
    assert int.from_bytes(area[0:2], "big") == len(area) - 2 == 88
    fields = struct.unpack(">HHIH", area[2:12])
    # TPM_ALG_ECC, nameAlg SHA-256; fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|
    # restricted|sign, no authPolicy
    assert fields == (0x0023, 0x000B, 0x00050072, 0)
    # symmetric NULL, scheme ECDSA with SHA-256, curve NIST P-256, kdf NULL
    assert struct.unpack(">HHHHH", area[12:22]) == (0x0010, 0x0018, 0x000B, 0x0003, 0x0010)
    x, y = area[24:56], area[58:90]
    key = serialization.load_pem_public_key(tpm.ak_public_pem())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    numbers = key.public_numbers()
    assert (numbers.x, numbers.y) == (int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    # name = nameAlg || H(TPMT_PUBLIC); qualified name of a primary = H(hierarchy || name)
    # (Part 1, "Names" and "Qualified Name"); TPM_RH_ENDORSEMENT is 0x4000000B
    assert tpm.ak_name() == b"\x00\x0b" + hashlib.sha256(area[2:]).digest()
    qualified = hashlib.sha256(bytes.fromhex("4000000b") + tpm.ak_name()).digest()
    assert tpm.ak_qualified_name() == b"\x00\x0b" + qualified


@pytest.mark.parametrize("key", ["ecc256", "ecc384", "rsa2048", "rsa2048-pss"])
def test_name_is_computable_from_the_certified_public_key(
    module_swtpm: SwtpmProcess, key: str
) -> None:
    """apmip.attest.tpm2.ak_name, given only the public key and the scheme, yields the name the
    TPM gives its AK; the quote's qualifiedSigner is H(TPM_RH_ENDORSEMENT || that name)."""
    with TpmAttester(module_swtpm.tcti, key=key) as tpm:
        public = serialization.load_pem_public_key(tpm.ak_public_pem())
        signature = tpm2.parse_signature(tpm.quote(QD, SEL).signature)
        signer = tpm2.parse_attest(tpm.quote(QD, SEL).attest).qualified_signer
        name, qualified = tpm.ak_name(), tpm.ak_qualified_name()
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        numbers = public.public_numbers()
        computed = tpm2.ak_name(
            signature.sig_alg,
            tpm2.hash_id(signature.hash),
            curve=public.curve.name,
            x=numbers.x.to_bytes(size, "big"),
            y=numbers.y.to_bytes(size, "big"),
        )
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        modulus = public.public_numbers().n.to_bytes(public.key_size // 8, "big")
        computed = tpm2.ak_name(signature.sig_alg, tpm2.hash_id(signature.hash), modulus=modulus)
    assert computed == name
    assert signer == qualified == b"\x00\x0b" + hashlib.sha256(b"\x40\x00\x00\x0b" + name).digest()


def test_tampered_quote_fails_the_cryptography_check(module_attester: TpmAttester) -> None:
    quote = module_attester.quote(QD, SEL)
    pem = module_attester.ak_public_pem()
    flipped = bytearray(quote.attest)
    flipped[50] ^= 0x01  # inside extraData
    with pytest.raises(InvalidSignature):
        verify_with_cryptography(pem, bytes(flipped), quote.signature)


def test_endorsement_ak_reports_real_counters(module_attester: TpmAttester) -> None:
    tpm = module_attester
    attest = tpm2.parse_attest(tpm.quote(QD, SEL).attest)
    clock = tpm.read_clock()
    assert (attest.clock_info.reset_count, attest.clock_info.restart_count) == (
        clock.reset_count,
        clock.restart_count,
    )
    assert attest.firmware_version == tpm.firmware_version()
    assert tpm.firmware_version() >> 32 == 0x20191023  # libtpms reports a date


def test_owner_hierarchy_ak_obfuscates_counters(module_swtpm: SwtpmProcess) -> None:
    """The reason the AK lives in the endorsement hierarchy (TPM 2.0 Part 2, TPMS_ATTEST)."""
    with TpmAttester(module_swtpm.tcti, hierarchy="owner") as tpm:
        attest = tpm2.parse_attest(tpm.quote(QD, SEL).attest)
        clock = tpm.read_clock()
        firmware = tpm.firmware_version()
    assert attest.clock_info.reset_count != clock.reset_count
    assert attest.clock_info.restart_count != clock.restart_count
    assert attest.firmware_version != firmware


@pytest.mark.parametrize(
    ("key", "sig_prefix", "sig_len"),
    [
        ("ecc384", "0018000c", 4 + 2 + 48 + 2 + 48),
        ("rsa2048", "0014000b", 4 + 2 + 256),
        ("rsa2048-pss", "0016000b", 4 + 2 + 256),
    ],
)
def test_other_ak_templates(
    module_swtpm: SwtpmProcess, key: str, sig_prefix: str, sig_len: int
) -> None:
    with TpmAttester(module_swtpm.tcti, key=key) as tpm:
        quote = tpm.quote(QD, SEL)
        verify_with_cryptography(tpm.ak_public_pem(), quote.attest, quote.signature)
    assert quote.signature[:4].hex() == sig_prefix
    assert len(quote.signature) == sig_len


def test_pcr_read_of_two_full_banks_loops(module_attester: TpmAttester) -> None:
    selection = (PcrBank("sha256", tuple(range(24))), PcrBank("sha1", tuple(range(24))))
    values = module_attester.pcr_read(selection)
    assert len(values) == 48  # six TPM2_PCR_Read calls of at most 8 each
    assert list(values)[:2] == [("sha256", 0), ("sha256", 1)]
    assert {len(v) for k, v in values.items() if k[0] == "sha1"} == {20}
    # PCRs 17-22 are the dynamic (DRTM) PCRs: all ones until a late launch
    assert values[("sha256", 17)] == b"\xff" * 32
    assert values[("sha256", 23)] == bytes(32)


def test_extend_matches_the_extend_rule(swtpm: SwtpmProcess) -> None:
    digest256, digest1 = hashlib.sha256(b"event").digest(), hashlib.sha1(b"event").digest()
    with TpmAttester(swtpm.tcti) as tpm:
        tpm.extend(13, {"sha256": digest256, "sha1": digest1})
        values = tpm.pcr_read((PcrBank("sha256", (13,)), PcrBank("sha1", (13,))))
    # PCR_new = H(PCR_old || digest) (TPM 2.0 Part 1, 17.2)
    assert values[("sha256", 13)] == hashlib.sha256(bytes(32) + digest256).digest()
    assert values[("sha1", 13)] == hashlib.sha1(bytes(20) + digest1).digest()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.extend(24, {"sha256": bytes(32)}), r"PCR 24 outside 0\.\.23"),
        (lambda t: t.extend(13, {"sha256": bytes(20)}), r"sha256: digest of 20 bytes, not 32"),
        (lambda t: t.extend(13, {"md5": bytes(16)}), r"PCR bank 'md5' unknown"),
        (lambda t: t.pcr_read((PcrBank("sha256", (30,)),)), r"PCR 30 of bank sha256 outside"),
        (lambda t: t.quote(bytes(67), SEL), r"qualifying data of 67 bytes > 66"),
    ],
    ids=["pcr-index", "digest-size", "bank", "read-index", "qualifying-data"],
)
def test_bad_arguments_are_refused_before_the_tpm(
    module_attester: TpmAttester, call: object, message: str
) -> None:
    with pytest.raises(TpmError, match=message):
        call(module_attester)  # type: ignore[operator]


def test_unallocated_bank_is_a_tpm_error(swtpm: SwtpmProcess) -> None:
    # swtpm allocates sha1, sha256, sha384 and sha512; drop sha384 (TPM2_PCR_Allocate with
    # platform authorisation, effective at the next TPM Reset)
    with ESAPI(swtpm.tcti) as esapi:
        every = tuple(range(24))
        banks = (PcrBank("sha1", every), PcrBank("sha256", every), PcrBank("sha384", ()))
        allowed, _max, _needed, _available = esapi.pcr_allocate(
            pcr_selection((*banks, PcrBank("sha512", every)))
        )
    assert allowed
    swtpm.power_cycle()
    with TpmAttester(swtpm.tcti) as tpm:
        with pytest.raises(TpmError, match=r"returned none of sha384:0, sha384:7"):
            tpm.pcr_read((PcrBank("sha384", (0, 7)),))
        assert len(tpm.pcr_read((PcrBank("sha512", (0, 7)),))) == 2


def test_ak_survives_a_tpm_restart_and_a_reset(swtpm: SwtpmProcess) -> None:
    with TpmAttester(swtpm.tcti) as tpm:
        pem = tpm.ak_public_pem()
        swtpm.restart_tpm()  # flushes the transient AK; the attester recreates it
        after_restart = tpm2.parse_attest(tpm.quote(QD, SEL).attest)
        swtpm.power_cycle()
        quote = tpm.quote(QD, SEL)
        after_reset = tpm2.parse_attest(quote.attest)
        assert tpm.ak_public_pem() == pem  # a primary key: same seed, same template
    verify_with_cryptography(pem, quote.attest, quote.signature)
    assert after_restart.clock_info.restart_count == 1
    assert (after_reset.clock_info.reset_count, after_reset.clock_info.restart_count) == (
        after_restart.clock_info.reset_count + 1,
        0,
    )


def _handles(tcti: str, first: int = 0x80000000) -> list[int]:
    """Handles of the type of ``first`` (transient 0x80, persistent 0x81) on the TPM."""
    with ESAPI(tcti) as esapi:
        _more, data = esapi.get_capability(TPM2_CAP.HANDLES, first, 64)
        return [int(h) for h in data.data.handles]


def test_close_flushes_the_transient_ak(swtpm: SwtpmProcess) -> None:
    with TpmAttester(swtpm.tcti) as tpm:
        tpm.quote(QD, SEL)
        assert len(_handles(swtpm.tcti)) == 1
    assert _handles(swtpm.tcti) == []


def test_persistent_ak(swtpm: SwtpmProcess) -> None:
    handle = 0x81010002
    with TpmAttester(swtpm.tcti, persistent_handle=handle) as tpm:
        pem = tpm.ak_public_pem()
    assert _handles(swtpm.tcti, 0x81000000) == [handle]
    assert _handles(swtpm.tcti) == []
    swtpm.power_cycle()
    with TpmAttester(swtpm.tcti, persistent_handle=handle) as tpm:
        assert tpm.ak_public_pem() == pem
        quote = tpm.quote(QD, SEL)
    verify_with_cryptography(pem, quote.attest, quote.signature)
    with pytest.raises(TpmError, match=r"0x81000001 needs the endorsement hierarchy"):
        TpmAttester(swtpm.tcti, persistent_handle=0x81000001)
    with pytest.raises(TpmError, match=r"0x81010002 needs the endorsement hierarchy"):
        TpmAttester(swtpm.tcti, persistent_handle=handle, hierarchy="owner")


def test_full_object_slots_are_named_and_flushable(swtpm: SwtpmProcess) -> None:
    # without a resource manager objects outlive the connection that made them
    with ESAPI(swtpm.tcti) as esapi:
        for _ in range(3):
            esapi.create_primary(None, "ecc256", ESYS_TR.OWNER)
    with pytest.raises(TpmCommandError) as caught:
        TpmAttester(swtpm.tcti)
    assert (caught.value.command, caught.value.rc) == ("TPM2_CreatePrimary", 0x902)
    assert "out of memory for object contexts" in caught.value.meaning
    assert "tpm2_flushcontext -t" in str(caught.value)
    with TpmAttester(swtpm.tcti, flush_leftovers=True) as tpm:
        tpm.quote(QD, SEL)
    assert _handles(swtpm.tcti) == []


def test_unreachable_tpm_is_a_tpm_error(swtpm: SwtpmProcess) -> None:
    tcti = swtpm.tcti
    swtpm.stop()
    with pytest.raises(TpmCommandError, match=r"IO failure"):
        TpmAttester(tcti)


AK_ATTRIBUTES_TOOLS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"


@pytest.mark.skipif(shutil.which("tpm2_createprimary") is None, reason="tpm2-tools not installed")
def test_tpm2_tools_derive_the_same_ak(swtpm: SwtpmProcess, tmp_path: Path) -> None:
    """What docs/tpm.md tells an operator to run to get the AK public key for its certificate."""
    env = dict(os.environ, TPM2TOOLS_TCTI=swtpm.tcti)
    ctx, pem = tmp_path / "ak.ctx", tmp_path / "ak.pem"
    commands = [
        [
            *("tpm2_createprimary", "-Q", "-C", "e", "-g", "sha256"),
            *("-G", "ecc256:ecdsa-sha256:null", "-a", AK_ATTRIBUTES_TOOLS, "-c", str(ctx)),
        ],
        ["tpm2_readpublic", "-Q", "-c", str(ctx), "-f", "pem", "-o", str(pem)],
        ["tpm2_flushcontext", "-t"],
    ]
    for command in commands:
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=30)
    with TpmAttester(swtpm.tcti) as tpm:
        assert tpm.ak_public_pem() == pem.read_bytes()
