"""Attestation options: round trips and every refusal of reassembly."""

from __future__ import annotations

import pytest

from apmip.errors import DecodeError, EncodeError
from apmip.wire import (
    DEFAULT_VENDOR_ID,
    AttestationRequest,
    BindingAck,
    BindingUpdate,
    UnknownOption,
    VendorSpecific,
    attestation_options,
    decode,
    encode,
    read_attestation,
)
from apmip.wire.attestation import FRAGMENT_CHUNK, EvidenceFragment, reassemble, split_evidence

EVIDENCE = bytes((i * 7) & 0xFF for i in range(700))
NONCE = bytes(range(32))


def fragments(evidence: bytes = EVIDENCE) -> list[VendorSpecific]:
    return list(attestation_options(None, evidence))


def test_request_and_evidence_round_trip_through_a_message() -> None:
    options = attestation_options(AttestationRequest(NONCE, flags=3), EVIDENCE)
    assert len(options) == 1 + 3  # 700 bytes need 3 fragments of at most 245
    message = BindingUpdate.proxy_update(9, 10, options)
    again = decode(encode(message))
    found = read_attestation(again)
    assert found.request == AttestationRequest(NONCE, 3)
    assert found.evidence == EVIDENCE


@pytest.mark.parametrize("size", [1, FRAGMENT_CHUNK, FRAGMENT_CHUNK + 1, 900, 1500])
def test_evidence_sizes(size: int) -> None:
    evidence = bytes(size)
    found = read_attestation(attestation_options(None, evidence))
    assert found.evidence == evidence and found.request is None


def test_fragment_layout_is_the_documented_one() -> None:
    first = fragments()[0]
    assert first.vendor_id == 32473 and first.subtype == 2
    # version 1, index 0, count 3, total length 700 (0x02bc), then the chunk
    assert first.data[:5] == bytes([1, 0, 3, 0x02, 0xBC])
    assert first.data[5:] == EVIDENCE[:FRAGMENT_CHUNK]
    request = AttestationRequest(NONCE, 0x81).to_option()
    assert request.subtype == 1 and request.data == bytes([1, 0x81]) + NONCE


def test_other_vendors_and_subtypes_are_ignored_and_kept() -> None:
    foreign = VendorSpecific(9, 1, b"\x01\x00" + NONCE)
    unknown_subtype = VendorSpecific(DEFAULT_VENDOR_ID, 77, b"whatever")
    options = (foreign, *fragments(), unknown_subtype, UnknownOption(200, b"x"))
    message = decode(encode(BindingAck(0, 1, 1, proxy=True, options=options)))
    assert read_attestation(message).evidence == EVIDENCE
    assert message.find_all(VendorSpecific)[0] == foreign
    assert unknown_subtype in message.options


def test_vendor_id_is_configurable() -> None:
    options = attestation_options(AttestationRequest(NONCE), EVIDENCE, vendor_id=4242)
    assert read_attestation(options).request is None  # not ours under the default id
    found = read_attestation(options, vendor_id=4242)
    assert found.request is not None and found.evidence == EVIDENCE


def refused(options: list[VendorSpecific]) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        read_attestation(options)
    return caught.value


def test_missing_fragment_is_refused() -> None:
    pieces = fragments()
    del pieces[1]
    assert "1 of 3 missing" in refused(pieces).detail


def test_last_fragment_missing_is_refused() -> None:
    assert "2 of 3 missing" in refused(fragments()[:2]).detail


def test_duplicate_fragment_is_refused() -> None:
    pieces = fragments()
    assert "appears twice" in refused([*pieces, pieces[1]]).detail


def test_out_of_order_fragments_are_refused() -> None:
    a, b, c = fragments()
    assert "out of order" in refused([a, c, b]).detail


def test_inconsistent_count_is_refused() -> None:
    pieces = fragments()
    data = bytearray(pieces[2].data)
    data[2] = 4
    pieces[2] = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes(data))
    assert refused(pieces).field == "count"


def test_inconsistent_total_is_refused() -> None:
    pieces = fragments()
    data = bytearray(pieces[1].data)
    data[4] ^= 1
    pieces[1] = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes(data))
    assert refused(pieces).field == "total length"


def test_truncated_fragment_is_refused() -> None:
    pieces = fragments()
    pieces[1] = VendorSpecific(DEFAULT_VENDOR_ID, 2, pieces[1].data[:-10])
    error = refused(pieces)
    assert "truncated" in error.detail and "690" in error.detail and "700" in error.detail


def test_fragment_without_chunk_or_bad_header_is_refused() -> None:
    header_only = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes([1, 0, 1, 0, 1]))
    assert refused([header_only]).field == "chunk"
    bad_index = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes([1, 3, 3, 0, 1, 0]))
    assert refused([bad_index]).field == "index"
    zero_count = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes([1, 0, 0, 0, 1, 0]))
    assert refused([zero_count]).field == "count"
    version = VendorSpecific(DEFAULT_VENDOR_ID, 2, bytes([2, 0, 1, 0, 1, 0]))
    assert refused([version]).field == "version"


def test_bad_requests_are_refused() -> None:
    short = VendorSpecific(DEFAULT_VENDOR_ID, 1, bytes([1, 0]) + bytes(15))
    assert refused([short]).field == "nonce"
    long = VendorSpecific(DEFAULT_VENDOR_ID, 1, bytes([1, 0]) + bytes(65))
    assert refused([long]).field == "nonce"
    two = AttestationRequest(NONCE).to_option()
    assert "second" in refused([two, two]).detail


def test_building_refuses_out_of_range_values() -> None:
    with pytest.raises(EncodeError):
        AttestationRequest(bytes(15))
    with pytest.raises(EncodeError):
        AttestationRequest(bytes(65))
    with pytest.raises(EncodeError):
        AttestationRequest(NONCE, flags=256)
    with pytest.raises(EncodeError):
        split_evidence(b"")
    with pytest.raises(EncodeError, match="fragments"):
        split_evidence(bytes(FRAGMENT_CHUNK * 255 + 1))


def test_reassemble_directly() -> None:
    pieces = split_evidence(EVIDENCE)
    assert reassemble(pieces) == EVIDENCE
    with pytest.raises(DecodeError):
        reassemble([])
    assert isinstance(pieces[0], EvidenceFragment)
