"""Faults other Mobility Header decoders had, pinned down with hand-written bytes."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from apmip.errors import DecodeError
from apmip.wire import (
    AlternateCareOfAddress,
    BindingUpdate,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
    UnknownOption,
    VendorSpecific,
    decode,
    encode,
)


def bu_bytes(options: bytes) -> bytes:
    """A Binding Update (seq 1, A+P, lifetime 1) around ``options``, Header Len by hand."""
    assert (12 + len(options)) % 8 == 0
    total = 12 + len(options)
    return bytes([59, total // 8 - 1, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1]) + options


def test_several_vendor_specific_options_in_a_row_each_consume_their_length() -> None:
    # three VSOs back to back (no padding between them), lengths 5, 8 and 13:
    # a decoder that takes one VSO's length for all, or stops after the first, fails here
    options = (
        bytes.fromhex("13 05 00007ed9 01")  # 7 octets
        + bytes.fromhex("13 08 00000009 02 aabbcc")  # 10 octets
        + bytes.fromhex("13 0d 00007ed9 03 0102030405060708")  # 15 octets
        + bytes.fromhex("0102 0000")  # PadN from 44 to 48
    )
    data = bu_bytes(options)
    message = decode(data)
    assert message.options == (
        VendorSpecific(32473, 1, b""),
        VendorSpecific(9, 2, bytes.fromhex("aabbcc")),
        VendorSpecific(32473, 3, bytes.fromhex("0102030405060708")),
    )
    assert encode(message) == data


def test_padding_does_not_grow_over_round_trips() -> None:
    built = BindingUpdate.proxy_update(
        1,
        1,
        (
            MobileNodeIdentifier(1, b"abc"),
            HomeNetworkPrefix(ipaddress.IPv6Network("2001:db8::/64")),
            Timestamp(5),
            VendorSpecific(1, 1, b"x"),
        ),
    )
    first = encode(built)
    data = first
    for _ in range(10):
        message = decode(data)
        data = encode(message)
        assert data == first
        # a changed copy is laid out afresh, and is no longer than a fresh build
        changed = dataclasses.replace(message, sequence=2)
        assert len(encode(changed)) == len(first)
        assert decode(encode(changed)) == changed


def test_padding_of_a_decoded_message_is_not_added_to() -> None:
    # a message with heavy padding (two PadN of 6) keeps exactly that padding, no more
    options = bytes.fromhex("0104 00000000 0104 00000000 1702 0001 0102 0000")
    data = bu_bytes(options)
    assert decode(data).options == (HandoffIndicator(1),)
    assert encode(decode(encode(decode(data)))) == data
    # and built afresh it needs far less: one option and 2 octets to reach 16
    assert len(encode(BindingUpdate(1, 1, options=(HandoffIndicator(1),)))) == 16


def test_option_lengths_summing_past_the_end_are_refused() -> None:
    # each option fits alone, but the second's length (14) runs 8 octets past the end
    options = bytes.fromhex("c8 02 0000 c9 0e 000000000000")
    with pytest.raises(DecodeError) as caught:
        decode(bu_bytes(options))
    assert caught.value.offset == 17 and "ends at 32, past the end 24" in caught.value.detail


def test_option_with_no_room_for_its_length_octet_is_refused() -> None:
    # the last octet is a type with no Length octet after it
    options = bytes.fromhex("c8 01 00 c8")
    with pytest.raises(DecodeError) as caught:
        decode(bu_bytes(options))
    assert caught.value.offset == 15 and "no Length octet" in caught.value.detail


def test_option_lengths_count_octets_not_words() -> None:
    # Alternate Care-of Address: Length 16 means 16 octets (not 16 * 8); the Handoff
    # Indicator right after it must be found at 12 + 2 + 18 = 32
    options = (
        bytes.fromhex("0100")  # PadN to put ACoA at 14 = 8n+6
        + bytes.fromhex("03 10 20010db8000000000000000000000001")
        + bytes.fromhex("17 02 00 02")
        + bytes.fromhex("0102 0000")
    )
    data = bu_bytes(options)
    message = decode(data)
    assert message.options == (
        AlternateCareOfAddress(ipaddress.IPv6Address("2001:db8::1")),
        HandoffIndicator(2),
    )
    assert encode(message) == data


def test_header_len_counts_eight_octet_units_beyond_the_first() -> None:
    data = bu_bytes(bytes.fromhex("0102 0000"))
    assert data[1] == 1 and len(data) == 16
    for wrong in (0, 2, 16):
        bad = data[:1] + bytes([wrong]) + data[2:]
        with pytest.raises(DecodeError) as caught:
            decode(bad)
        assert caught.value.field == "Header Len"


def test_unknown_options_survive_round_trips_byte_for_byte() -> None:
    options = bytes.fromhex("fe 05 0102030405 00 7f 00 0100")
    data = bu_bytes(options)
    message = decode(data)
    assert message.options == (UnknownOption(254, bytes.fromhex("0102030405")), UnknownOption(127))
    assert encode(message) == data
    rebuilt = encode(dataclasses.replace(message))
    assert decode(rebuilt).options == message.options


def test_decoding_never_reads_past_a_short_buffer() -> None:
    data = bu_bytes(bytes.fromhex("1702 0001"))
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])
        with pytest.raises(DecodeError):
            decode(memoryview(data)[:cut])


def test_reused_options_are_equal_values_and_the_cache_stays_bounded() -> None:
    from apmip.wire import mh

    first = decode(bu_bytes(bytes.fromhex("1702 0001")))
    second = decode(bu_bytes(bytes.fromhex("1702 0001")))
    assert first.options == second.options == (HandoffIndicator(1),)
    # a refused option is never remembered: the same octets are refused again
    for _ in range(2):
        with pytest.raises(DecodeError):
            decode(bu_bytes(bytes.fromhex("1703 000100 0105 0000000000")))
    for value in range(mh._SEEN_MAX + 10):
        identifier = MobileNodeIdentifier(1, value.to_bytes(4, "big"))
        decode(encode(BindingUpdate(1, 1, options=(identifier,))))
        assert len(mh._SEEN) <= mh._SEEN_MAX
