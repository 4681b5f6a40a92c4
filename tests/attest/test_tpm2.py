"""TPM 2.0 structures against byte vectors written by hand from TPM 2.0 Part 2."""

from __future__ import annotations

import hashlib

import pytest

from apmip.attest import tpm2
from apmip.errors import EvidenceError

# TPMS_ATTEST of a quote, field by field (offsets in the comments)
ATTEST = bytes.fromhex(
    "ff544347"  # 0 magic TPM_GENERATED_VALUE
    "8018"  # 4 type TPM_ST_ATTEST_QUOTE
    "0022"
    + "000b"
    + "11" * 32  # 6 qualifiedSigner: sha256 name
    + "0020"
    + "22" * 32  # 42 extraData
    + "0000000000000064"  # 76 clock 100 ms
    "00000002"  # 84 resetCount
    "00000001"  # 88 restartCount
    "01"  # 92 safe
    "0001000200030004"  # 93 firmwareVersion
    "00000001"  # 101 TPML_PCR_SELECTION count
    "000b"
    "03"
    "972300"  # 105 sha256, 3 octets: PCRs 0,1,2,4,7 | 8,9,13
    "0020" + "33" * 32  # 111 pcrDigest
)

ECDSA_SIG = bytes.fromhex("0018000b0020" + "44" * 32 + "0020" + "55" * 32)


def test_attest_vector_decodes_field_by_field() -> None:
    assert len(ATTEST) == 145
    attest = tpm2.parse_attest(ATTEST)
    assert attest.magic == 0xFF544347
    assert attest.type == 0x8018
    assert attest.qualified_signer == bytes.fromhex("000b") + b"\x11" * 32
    assert attest.extra_data == b"\x22" * 32
    assert attest.clock_info == tpm2.ClockInfo(100, 2, 1, True)
    assert attest.firmware_version == 0x0001000200030004
    assert attest.quote is not None
    assert attest.quote.pcr_select == (tpm2.PcrSelection(0x000B, (0, 1, 2, 4, 7, 8, 9, 13), 3),)
    assert attest.quote.pcr_digest == b"\x33" * 32


def test_attest_vector_marshals_back() -> None:
    assert tpm2.parse_attest(ATTEST).marshal() == ATTEST


def test_selection_bitmap_by_hand() -> None:
    sel = tpm2.PcrSelection.of("sha256", [13, 0, 1, 2, 4, 7, 8, 9])
    assert sel.bitmap() == bytes([0x97, 0x23, 0x00])
    assert tpm2.PcrSelection.of("sha1", range(24)).bitmap() == b"\xff\xff\xff"
    assert tpm2.marshal_pcr_selections((sel,)) == bytes.fromhex("00000001000b03972300")
    two = (tpm2.PcrSelection.of("sha1", [0]), tpm2.PcrSelection.of("sha256", [23]))
    data = bytes.fromhex("00000002000403010000000b03000080")
    assert tpm2.marshal_pcr_selections(two) == data
    assert tpm2.parse_pcr_selections(data) == two


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (ATTEST + b"\x00", "TPMS_ATTEST: end at offset 145: 1 trailing bytes"),
        (ATTEST[:-1], "TPMS_ATTEST: attested.quote.pcrDigest.buffer at offset 113: needs 32"),
        (ATTEST[:92] + b"\x02" + ATTEST[93:], "clockInfo.safe at offset 92: TPMI_YES_NO"),
        (
            ATTEST[:6] + b"\x00\x43" + ATTEST[8:],
            "qualifiedSigner.size at offset 6: 67 exceeds the maximum 66",
        ),
        (
            ATTEST[:101] + b"\x00\x00\x00\x11" + ATTEST[105:],
            "attested.quote.pcrSelect.count at offset 101: 17 banks exceeds the maximum 16",
        ),
        (
            ATTEST[:107] + b"\x02" + ATTEST[108:],
            "pcrSelections[0].sizeofSelect at offset 107: 2 outside 3..8",
        ),
        (
            ATTEST[:105] + b"\x00\x99" + ATTEST[107:],
            "pcrSelections[0].hash at offset 105: hash algorithm 0x0099 is not supported",
        ),
        (ATTEST[:3], "TPMS_ATTEST: magic at offset 0: needs 4 bytes, only 3 left"),
    ],
    ids=["trailing", "short", "safe", "name-size", "bank-count", "select-size", "bank", "tiny"],
)
def test_attest_strictness_names_field_and_offset(data: bytes, message: str) -> None:
    with pytest.raises(EvidenceError) as info:
        tpm2.parse_attest(data)
    assert message in str(info.value)


def test_other_attestation_type_parses_without_quote_info() -> None:
    certify = ATTEST[:4] + b"\x80\x17" + ATTEST[6:]  # TPM_ST_ATTEST_CERTIFY
    attest = tpm2.parse_attest(certify)
    assert attest.quote is None
    assert attest.attested_raw == ATTEST[101:]
    assert attest.marshal() == certify


def test_signature_vectors() -> None:
    sig = tpm2.parse_signature(ECDSA_SIG)
    assert (sig.scheme, sig.hash, sig.r, sig.s) == ("ecdsa", "sha256", b"\x44" * 32, b"\x55" * 32)
    assert sig.marshal() == ECDSA_SIG
    rsa = bytes.fromhex("0014000b0100") + b"\x66" * 256
    parsed = tpm2.parse_signature(rsa)
    assert (parsed.scheme, parsed.hash, parsed.rsa) == ("rsassa", "sha256", b"\x66" * 256)
    pss = bytes.fromhex("0016000c0002") + b"\x01\x02"
    assert tpm2.parse_signature(pss) == tpm2.Signature(0x0016, 0x000C, rsa=b"\x01\x02")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (ECDSA_SIG + b"\x00", "TPMT_SIGNATURE: end at offset 72: 1 trailing bytes"),
        (bytes.fromhex("0019000b"), "sigAlg at offset 0: scheme 0x0019 is not ECDSA"),
        (bytes.fromhex("00180005"), "signature.hash at offset 2: hash 0x0005 is not supported"),
        (
            bytes.fromhex("0018000b0043") + b"\x00" * 67,
            "signatureR.size at offset 4: 67 exceeds the maximum 66",
        ),
        (
            bytes.fromhex("0014000b0201") + b"\x00" * 513,
            "signature.sig.size at offset 4: 513 exceeds the maximum 512",
        ),
    ],
)
def test_signature_strictness(data: bytes, message: str) -> None:
    with pytest.raises(EvidenceError) as info:
        tpm2.parse_signature(data)
    assert message in str(info.value)


def test_pcr_digest_is_hash_of_concatenated_values() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert tpm2.pcr_digest("sha256", [a, b]) == hashlib.sha256(a + b).digest()
    assert tpm2.pcr_digest("sha256", [b, a]) != tpm2.pcr_digest("sha256", [a, b])
