"""Hand-written byte vectors for a Proxy Binding Update and a Proxy Binding Acknowledgement.

The bytes below were laid out by hand from RFC 6275 sections 6.1.7/6.1.8 and RFC 5213
section 8 (message layouts) and 6.2 (option alignment), not produced by the encoder.
"""

from __future__ import annotations

import ipaddress

import pytest

from apmip.errors import DecodeError, EncodeError
from apmip.wire import (
    AccessTechnologyType,
    AttestationRequest,
    BindingAck,
    BindingUpdate,
    HandoffIndicator,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    Timestamp,
    attestation_options,
    checksum,
    decode,
    encode,
    read_attestation,
)

SRC = ipaddress.IPv6Address("2001:db8::1")
DST = ipaddress.IPv6Address("2001:db8::2")

# fmt: off
PBU = bytes([
    0x3B, 0x08, 0x05, 0x00, 0x00, 0x00,  # Payload Proto 59, Header Len 8 (72 bytes), MH 5
    0x00, 0x01,                          # Sequence # 1
    0x82, 0x00,                          # A and P flags
    0x00, 0x64,                          # Lifetime 100 (400 s)
    # offset 12: MN Identifier (no alignment), NAI "mn1@a.b"
    0x08, 0x08, 0x01, 0x6D, 0x6E, 0x31, 0x40, 0x61, 0x2E, 0x62,
    # offset 22: PadN of 6 octets, so that the HNP option sits at 28 = 8n+4
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    # offset 28: Home Network Prefix 2001:db8:1::/64
    0x16, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0D, 0xB8, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    # offset 48: Handoff Indicator 1, Access Technology Type 4 (no alignment)
    0x17, 0x02, 0x00, 0x01,
    0x18, 0x02, 0x00, 0x04,
    # offset 56: PadN of 2 octets, so that the Timestamp sits at 58 = 8n+2
    0x01, 0x00,
    # offset 58: Timestamp 1700000000.5 s as 48.16 fixed point
    0x1B, 0x08, 0x00, 0x00, 0x65, 0x53, 0xF1, 0x00, 0x80, 0x00,
    # offset 68: PadN of 4 octets to end on a multiple of 8
    0x01, 0x02, 0x00, 0x00,
])

PBA = bytes([
    0x3B, 0x0C, 0x06, 0x00, 0x00, 0x00,  # Payload Proto 59, Header Len 12 (104 bytes), MH 6
    0x00,                                # Status 0: accepted
    0x20,                                # P flag
    0x00, 0x01,                          # Sequence # 1
    0x00, 0x64,                          # Lifetime 100
    # offset 12: MN Identifier "mn1@a.b"
    0x08, 0x08, 0x01, 0x6D, 0x6E, 0x31, 0x40, 0x61, 0x2E, 0x62,
    # offset 22: PadN 6, HNP at 28 = 8n+4
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x16, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0D, 0xB8, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    # offset 48: PadN 6, Link-local Address at 54 = 8n+6
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x1A, 0x10,
    0xFE, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    # offset 72: PadN 2, Vendor-Specific at 74 = 4n+2
    0x01, 0x00,
    # Vendor-Specific, length 23: vendor 32473, sub-type 1 (attestation request),
    # version 1, flags 0, nonce 00..0f
    0x13, 0x17, 0x00, 0x00, 0x7E, 0xD9, 0x01, 0x01, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    # offset 99: PadN 5 to 104
    0x01, 0x03, 0x00, 0x00, 0x00,
])
# fmt: on

MNID = MobileNodeIdentifier(1, b"mn1@a.b")
HNP = HomeNetworkPrefix(ipaddress.IPv6Network("2001:db8:1::/64"))


def built_pbu() -> BindingUpdate:
    return BindingUpdate(
        sequence=1,
        lifetime=100,
        ack=True,
        proxy=True,
        options=(
            MNID,
            HNP,
            HandoffIndicator(1),
            AccessTechnologyType(4),
            Timestamp((0x6553F100 << 16) | 0x8000),
        ),
    )


def built_pba() -> BindingAck:
    request = AttestationRequest(bytes(range(16)))
    return BindingAck(
        status=0,
        sequence=1,
        lifetime=100,
        proxy=True,
        options=(
            MNID,
            HNP,
            LinkLocalAddress(ipaddress.IPv6Address("fe80::1")),
            *attestation_options(request, None),
        ),
    )


def with_checksum(data: bytes) -> bytes:
    value = checksum(SRC, DST, data)
    return data[:4] + value.to_bytes(2, "big") + data[6:]


def test_pbu_encodes_to_the_hand_written_bytes() -> None:
    assert encode(built_pbu()) == PBU


def test_pbu_decodes_from_the_hand_written_bytes() -> None:
    message = decode(PBU)
    assert message == built_pbu()
    assert isinstance(message, BindingUpdate)
    assert message.proxy and message.ack and not message.home
    assert message.lifetime_seconds == 400
    assert message.find(HomeNetworkPrefix) == HNP
    assert message.find(Timestamp) is not None
    assert message.find(Timestamp).seconds == 1700000000.5  # type: ignore[union-attr]
    assert encode(message) == PBU


def test_pba_encodes_and_decodes_the_hand_written_bytes() -> None:
    assert encode(built_pba()) == PBA
    message = decode(PBA)
    assert message == built_pba()
    assert isinstance(message, BindingAck) and message.accepted and message.proxy
    found = read_attestation(message)
    assert found.request == AttestationRequest(bytes(range(16)))
    assert found.evidence is None


def test_checksum_vector_agrees_with_scapy() -> None:
    from scapy.layers.inet6 import IPv6, in6_chksum

    ours = checksum(SRC, DST, PBU)
    theirs = in6_chksum(135, IPv6(src=str(SRC), dst=str(DST)), PBU)
    assert ours == theirs == 0x936B
    assert encode(built_pbu(), src=SRC, dst=DST) == with_checksum(PBU)


def test_checksum_is_verified_only_with_addresses() -> None:
    good = with_checksum(PBU)
    assert decode(good, src=SRC, dst=DST) == built_pbu()
    bad = good[:4] + bytes([good[4] ^ 1, good[5]]) + good[6:]
    with pytest.raises(DecodeError) as caught:
        decode(bad, src=SRC, dst=DST)
    assert caught.value.field == "Checksum" and caught.value.offset == 4
    assert decode(bad) == built_pbu()  # RFC 5844 transport: not checked
    # the wrong addresses also fail
    with pytest.raises(DecodeError):
        decode(good, src=DST, dst=SRC + 1)


def test_re_encoding_a_decoded_message_keeps_its_layout() -> None:
    # a PBU whose padding differs from what the encoder would choose (PadN where Pad1s are)
    odd = bytearray(PBU)
    odd[56:58] = b"\x00\x00"  # two Pad1 instead of one PadN(0)
    message = decode(bytes(odd))
    assert message == built_pbu()
    assert encode(message) == bytes(odd)
    again = bytes(odd)
    for _ in range(5):
        again = encode(decode(again))
    assert again == bytes(odd)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b"\x06" + b[1:], "Payload Proto"),
        (lambda b: b[:1] + b"\x09" + b[2:], "Header Len"),
        (lambda b: b[:-8], "Header Len"),
        (lambda b: b[:5], "length"),
    ],
)
def test_header_faults_are_named(mutate, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError) as caught:
        decode(mutate(PBU))
    assert caught.value.field == field


def test_option_running_past_the_end_is_refused() -> None:
    bad = bytearray(PBU)
    bad[69] = 0x05  # the last PadN claims 5 octets, 3 remain
    with pytest.raises(DecodeError) as caught:
        decode(bytes(bad))
    assert caught.value.offset == 69 and "past the end" in caught.value.detail


def test_option_shorter_than_its_type_is_refused() -> None:
    bad = bytearray(PBU)
    bad[49] = 0x01  # Handoff Indicator of length 1, then garbage fills the rest
    with pytest.raises(DecodeError) as caught:
        decode(bytes(bad))
    assert "Handoff Indicator" in caught.value.field and caught.value.offset == 49


def test_message_over_2048_bytes_is_refused_with_its_size() -> None:
    evidence = bytes(2000)
    message = BindingUpdate(1, 1, options=attestation_options(None, evidence))
    with pytest.raises(EncodeError, match=r"would be \d+ bytes, more than the 2048"):
        encode(message)
