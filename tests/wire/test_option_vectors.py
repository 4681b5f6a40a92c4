"""Every mobility option: a TLV written by hand from its RFC figure, both ways, and placed
at its alignment by the encoder."""

from __future__ import annotations

import ipaddress

import pytest

from apmip.errors import DecodeError, EncodeError
from apmip.wire import (
    AccessTechnologyType,
    AlternateCareOfAddress,
    AlternateIPv4CareOfAddress,
    BindingAuthorizationData,
    BindingIdentifier,
    BindingRefreshAdvice,
    BindingUpdate,
    ExperimentalOption,
    GreKey,
    HandoffIndicator,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4DhcpSupportMode,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    LoadInformation,
    MessageAuthentication,
    MessageIdentification,
    MobileNodeGroupIdentifier,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    NonceIndices,
    Option,
    PadN,
    Redirect,
    RedirectCapability,
    RestartCounter,
    Timestamp,
    UnknownOption,
    VendorSpecific,
    decode,
    encode,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

# (option, its Type-Length-Data octets written by hand, alignment (x, y))
VECTORS: list[tuple[Option, str, tuple[int, int]]] = [
    # RFC 6275 6.2.4: Type 2, Length 2, Refresh Interval
    (BindingRefreshAdvice(1800), "02 02 0708", (2, 0)),
    # RFC 6275 6.2.5: Type 3, Length 16, address
    (AlternateCareOfAddress(V6("2001:db8::7")), "03 10 20010db8000000000000000000000007", (8, 6)),
    # RFC 6275 6.2.6: Type 4, Length 4, Home Nonce Index, Care-of Nonce Index
    (NonceIndices(1234, 5678), "04 04 04d2 162e", (2, 0)),
    # RFC 6275 6.2.7: Type 5, Length = authenticator length
    (
        BindingAuthorizationData(bytes.fromhex("8101738d517d516940ec0611")),
        "05 0c 8101738d517d516940ec0611",
        (8, 2),
    ),
    # RFC 4283 3: Type 8, Length, Subtype 1 (NAI), identifier
    (MobileNodeIdentifier(1, b"mn@x"), "08 05 01 6d6e4078", (1, 0)),
    # RFC 4285 5: Type 9, Length, Subtype, SPI, authentication data
    (
        MessageAuthentication(1, 0x1000, bytes(12)),
        "09 11 01 00001000 000000000000000000000000",
        (4, 1),
    ),
    # RFC 4285 6: Type 10, Length 8, 64-bit timestamp
    (MessageIdentification(0xE8D4A51000000001), "0a 08 e8d4a51000000001", (8, 2)),
    # RFC 5096 4: Type 18, opaque data
    (ExperimentalOption(b"\xca\xfe"), "12 02 cafe", (1, 0)),
    # RFC 5094 3: Type 19, Length, Vendor ID (4), Sub-type, data
    (VendorSpecific(32473, 7, b"\x01\x02"), "13 07 00007ed9 07 0102", (4, 2)),
    # RFC 5213 8.3: Type 22, Length 18, Reserved, Prefix Length, Prefix
    (
        HomeNetworkPrefix(ipaddress.IPv6Network("2001:db8:1::/48")),
        "16 12 00 30 20010db8000100000000000000000000",
        (8, 4),
    ),
    # RFC 5213 8.4: Type 23, Length 2, Reserved, HI
    (HandoffIndicator(3), "17 02 00 03", (1, 0)),
    # RFC 5213 8.5: Type 24, Length 2, Reserved, ATT
    (AccessTechnologyType(5), "18 02 00 05", (1, 0)),
    # RFC 5213 8.6: Type 25, Length, Reserved (2), link-layer identifier
    (
        MobileNodeLinkLayerIdentifier(bytes.fromhex("02aabbccddee")),
        "19 08 0000 02aabbccddee",
        (4, 0),
    ),
    # RFC 5213 8.7: Type 26, Length 16, link-local address
    (LinkLocalAddress(V6("fe80::1")), "1a 10 fe800000000000000000000000000001", (8, 6)),
    # RFC 5213 8.8: Type 27, Length 8, 48.16 fixed point
    (Timestamp.from_seconds(1.5), "1b 08 000000000001 8000", (8, 2)),
    # RFC 5847 3.4: Type 28, Length 4, Restart Counter
    (RestartCounter(7), "1c 04 00000007", (4, 2)),
    # RFC 5845 6.1: Type 33, Length 6, Reserved (2), GRE key; and the 2-octet form
    (GreKey(0xDEADBEEF), "21 06 0000 deadbeef", (4, 0)),
    (GreKey(), "21 02 0000", (4, 0)),
    # RFC 5648 4.3: Type 35, Length 4 / 8 / 20: BID, Status, H|Reserved, CoA
    (BindingIdentifier(5, 0, True), "23 04 0005 00 80", (2, 0)),
    (BindingIdentifier(5, 130, False, V4("192.0.2.9")), "23 08 0005 82 00 c0000209", (8, 2)),
    (
        BindingIdentifier(6, 0, False, V6("2001:db8::9")),
        "23 14 0006 00 00 20010db8000000000000000000000009",
        (8, 2),
    ),
    # RFC 5844 3.3.1: Type 36, Length 6, Prefix-len (6 bits) + Reserved (10), address
    (IPv4HomeAddressRequest(24, V4("10.0.0.5")), "24 06 6000 0a000005", (4, 0)),
    # RFC 5844 3.3.2: Type 37, Length 6, Status, Prefix-len (6) + Res (2), address
    (IPv4HomeAddressReply(128, 16, V4("10.0.0.5")), "25 06 80 40 0a000005", (4, 0)),
    # RFC 5844 3.3.3: Type 38, Length 6, Reserved (2), default router
    (IPv4DefaultRouterAddress(V4("10.0.0.1")), "26 06 0000 0a000001", (4, 0)),
    # RFC 5844 3.3.4: Type 39, Length 2, Reserved (15) + S
    (IPv4DhcpSupportMode(True), "27 02 0001", (1, 0)),
    (IPv4DhcpSupportMode(False), "27 02 0000", (1, 0)),
    # RFC 6463 4.1: Type 46, Length 2, Reserved
    (RedirectCapability(), "2e 02 0000", (4, 0)),
    # RFC 6463 4.2: Type 47, K|N|Reserved, one address
    (Redirect(V6("2001:db8::5")), "2f 12 8000 20010db8000000000000000000000005", (4, 0)),
    (Redirect(V4("192.0.2.5")), "2f 06 4000 c0000205", (4, 0)),
    # RFC 6463 4.3: Type 48, Length 18, Priority (2), four 32-bit counters
    (LoadInformation(1, 2, 3, 4, 5), "30 12 0001 00000002 00000003 00000004 00000005", (4, 0)),
    # RFC 6463 4.4: Type 49, Length 4, address
    (AlternateIPv4CareOfAddress(V4("198.51.100.1")), "31 04 c6336401", (4, 2)),
    # RFC 6602 4.3: Type 50, Length 6, Sub-type, Reserved, group identifier
    (MobileNodeGroupIdentifier(1, 0x01020304), "32 06 01 00 01020304", (4, 0)),
    # an option type this codec does not model, kept whole
    (UnknownOption(200, b"\x01\x02\x03"), "c8 03 010203", (1, 0)),
]

IDS = [f"{type(o).__name__}-{i}" for i, (o, _, _) in enumerate(VECTORS)]


@pytest.mark.parametrize(("option", "tlv", "align"), VECTORS, ids=IDS)
def test_option_encodes_to_its_hand_written_bytes(option: Option, tlv: str, align: object) -> None:
    assert option.encode_tlv() == bytes.fromhex(tlv)


@pytest.mark.parametrize(("option", "tlv", "align"), VECTORS, ids=IDS)
def test_option_decodes_from_its_hand_written_bytes(
    option: Option, tlv: str, align: object
) -> None:
    raw = bytes.fromhex(tlv)
    message_bytes = _message_with(raw)
    message = decode(message_bytes)
    assert message.options == (option,)
    assert encode(message) == message_bytes


def _message_with(tlv: bytes) -> bytes:
    """A Binding Refresh Request (8-octet header) holding ``tlv``, padded by hand with PadN."""
    body = tlv
    gap = -(8 + len(body)) % 8
    if gap == 1:
        body += b"\x00"
    elif gap:
        body += bytes([1, gap - 2]) + bytes(gap - 2)
    total = 8 + len(body)
    return bytes([59, total // 8 - 1, 0, 0, 0, 0, 0, 0]) + body


@pytest.mark.parametrize(("option", "tlv", "align"), VECTORS, ids=IDS)
@pytest.mark.parametrize("lead", range(1, 9))
def test_encoder_places_option_at_its_alignment(
    option: Option, tlv: str, align: tuple[int, int], lead: int
) -> None:
    # a Mobile Node Identifier of varying length shifts where the option would start
    first = MobileNodeIdentifier(1, bytes(lead))
    data = encode(BindingUpdate(1, 1, options=(first, option)))
    offset = _offset_of_second_option(data)
    x, y = align
    assert offset % x == y, f"type octet at {offset}, needs {x}n+{y}"
    assert data[offset : offset + len(bytes.fromhex(tlv))] == bytes.fromhex(tlv)
    assert len(data) % 8 == 0
    assert decode(data).options == (first, option)


def _offset_of_second_option(data: bytes) -> int:
    pos, seen = 12, 0
    while True:
        kind = data[pos]
        if kind == 0:
            pos += 1
            continue
        if kind != 1:
            seen += 1
            if seen == 2:
                return pos
        pos += 2 + data[pos + 1]


def test_padding_options_are_exact() -> None:
    assert PadN(3).encode_tlv() == bytes.fromhex("01 03 000000")
    from apmip.wire.base import padding

    assert [padding(n) for n in range(8)] == [
        b"",
        b"\x00",
        b"\x01\x00",
        b"\x01\x01\x00",
        b"\x01\x02\x00\x00",
        b"\x01\x03" + bytes(3),
        b"\x01\x04" + bytes(4),
        b"\x01\x05" + bytes(5),
    ]


@pytest.mark.parametrize(
    ("tlv", "field"),
    [
        ("02 01 07", "Binding Refresh Advice length"),
        ("03 0f" + "00" * 15, "Alternate Care-of Address length"),
        ("08 01 01", "Mobile Node Identifier length"),
        ("13 04 00007ed9", "Vendor-Specific length"),
        ("16 11 00" + "00" * 16, "Home Network Prefix length"),
        ("16 12 00 81" + "00" * 16, "Home Network Prefix prefix length"),
        ("16 12 00 40 20010db8000000000000000000000001", "Home Network Prefix prefix"),
        ("17 03 000100", "Handoff Indicator length"),
        ("1b 07" + "00" * 7, "Timestamp length"),
        ("21 04 00000000", "GRE Key length"),
        ("23 05 0001000000", "Binding Identifier length"),
        ("24 06 8c00 0a000001", "IPv4 Home Address Request prefix length"),
        ("2f 06 8000 c0000205", "Redirect K/N flags"),
        ("32 05 0100000001", "Mobile Node Group Identifier length"),
    ],
)
def test_option_with_a_wrong_length_or_value_is_refused(tlv: str, field: str) -> None:
    raw = bytes.fromhex(tlv)
    with pytest.raises(DecodeError) as caught:
        decode(_message_with(raw))
    assert caught.value.field == field
    assert caught.value.offset in (8, 9, 10)


@pytest.mark.parametrize(
    "build",
    [
        lambda: HandoffIndicator(256),
        lambda: HandoffIndicator(True),
        lambda: Timestamp(-1),
        lambda: Timestamp.from_seconds(-1.0),
        lambda: MobileNodeIdentifier(1, b""),
        lambda: MobileNodeIdentifier(1, "text"),
        lambda: VendorSpecific(1 << 32, 1, b""),
        lambda: VendorSpecific(1, 1, bytes(251)),
        lambda: HomeNetworkPrefix("2001:db8::/64"),
        lambda: IPv4HomeAddressRequest(33, V4("10.0.0.1")),
        lambda: UnknownOption(22, b""),
        lambda: UnknownOption(1, b""),
        lambda: BindingIdentifier(1, 0, False, "192.0.2.1"),
        lambda: LinkLocalAddress(V4("10.0.0.1")),
    ],
)
def test_constructors_refuse_bad_values(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError):
        build()


def test_timestamp_fixed_point() -> None:
    stamp = Timestamp.from_seconds(1700000000.25)
    assert stamp.value == (1700000000 << 16) | 0x4000
    assert stamp.seconds == 1700000000.25
