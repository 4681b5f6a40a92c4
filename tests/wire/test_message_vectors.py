"""Every Mobility Header message: bytes written by hand from its RFC figure, both ways."""

from __future__ import annotations

import ipaddress

import pytest

from apmip.errors import DecodeError, EncodeError
from apmip.wire import (
    BindingAck,
    BindingError,
    BindingRefreshRequest,
    BindingRevocationAck,
    BindingRevocationIndication,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    GenericMessage,
    Heartbeat,
    HomeTest,
    HomeTestInit,
    Message,
    MobileNodeIdentifier,
    RestartCounter,
    decode,
    encode,
)

MNID = MobileNodeIdentifier(1, b"mn")

# (message, bytes by hand: Payload Proto 59 | Header Len | MH Type | Reserved | Checksum 0 | ...)
VECTORS: list[tuple[Message, str]] = [
    # RFC 6275 6.1.2: Reserved (2); 8 octets in all
    (BindingRefreshRequest(), "3b 00 00 00 0000 0000"),
    # RFC 6275 6.1.3: Reserved (2), Home Init Cookie (8); 16 octets, no padding
    (HomeTestInit(0x0102030405060708), "3b 01 01 00 0000 0000 0102030405060708"),
    # RFC 6275 6.1.4: Reserved (2), Care-of Init Cookie (8)
    (CareOfTestInit(0x1112131415161718), "3b 01 02 00 0000 0000 1112131415161718"),
    # RFC 6275 6.1.5: Home Nonce Index (2), Home Init Cookie (8), Home Keygen Token (8)
    (HomeTest(7, 1, 2), "3b 02 03 00 0000 0007 0000000000000001 0000000000000002"),
    # RFC 6275 6.1.6: Care-of Nonce Index (2), Care-of Init Cookie (8), Care-of Keygen Token
    (CareOfTest(8, 3, 4), "3b 02 04 00 0000 0008 0000000000000003 0000000000000004"),
    # RFC 6275 6.1.7: Sequence # (2), A H L K M R P F T B flags + Reserved, Lifetime;
    # then 4 octets of PadN
    (
        BindingUpdate(
            0x1234, 0x0102, True, True, True, True, True, True, True, (), True, True, True
        ),
        "3b 01 05 00 0000 1234 ffc0 0102 0102 0000",
    ),
    (BindingUpdate(1, 0), "3b 01 05 00 0000 0001 0000 0000 0102 0000"),
    # RFC 6275 6.1.8: Status, K R P T B flags + Reserved, Sequence #, Lifetime; 4 octets of PadN
    (
        BindingAck(129, 0x1234, 0x0102, True, True, True, (), True, True),
        "3b 01 06 00 0000 81 f8 1234 0102 0102 0000",
    ),
    # RFC 6275 6.1.9: Status, Reserved, Home Address (16)
    (
        BindingError(2, ipaddress.IPv6Address("2001:db8::1")),
        "3b 02 07 00 0000 02 00 20010db8000000000000000000000001",
    ),
    # RFC 5847 3.3: Reserved (1), Reserved bits + U + R (1), Sequence Number (4),
    # then Restart Counter (4n+2) at 12 needs PadN(0) first, and 4 octets of PadN at the end
    (
        Heartbeat(0x01020304, response=True, unsolicited=True, options=(RestartCounter(9),)),
        "3b 02 0d 00 0000 00 03 01020304 0100 1c04 00000009 0102 0000",
    ),
    (Heartbeat(5), "3b 01 0d 00 0000 00 00 00000005 0102 0000"),
    # RFC 5846 5.1: B.R. Type 1, R. Trigger, Sequence #, P V G + Reserved; MN-ID, 7 octets of PadN
    (
        BindingRevocationIndication(
            1, 99, proxy=True, ipv4_only=True, global_=True, options=(MNID,)
        ),
        "3b 02 10 00 0000 01 01 0063 e000 0803 016d6e 0105 0000000000",
    ),
    # RFC 5846 5.2: B.R. Type 2, Status, Sequence #, P V G + Reserved; 4 octets of padding
    (BindingRevocationAck(128, 99, proxy=True), "3b 01 10 00 0000 02 80 0063 8000 0102 0000"),
    # an MH type this codec does not model (RFC 5096 Experimental, 11): kept whole
    (
        GenericMessage(11, bytes.fromhex("0102030405060708090a")),
        "3b 01 0b 00 0000 0102030405060708090a",
    ),
]

IDS = [type(m).__name__ for m, _ in VECTORS]


@pytest.mark.parametrize(("message", "vector"), VECTORS, ids=IDS)
def test_message_encodes_to_its_hand_written_bytes(message: Message, vector: str) -> None:
    assert encode(message) == bytes.fromhex(vector)


@pytest.mark.parametrize(("message", "vector"), VECTORS, ids=IDS)
def test_message_decodes_from_its_hand_written_bytes(message: Message, vector: str) -> None:
    data = bytes.fromhex(vector)
    decoded = decode(data)
    assert decoded == message
    assert type(decoded) is type(message)
    assert encode(decoded) == data


@pytest.mark.parametrize(("message", "vector"), VECTORS, ids=IDS)
def test_round_trip_with_checksum(message: Message, vector: str) -> None:
    src = ipaddress.IPv6Address("2001:db8::a")
    dst = ipaddress.IPv6Address("2001:db8::b")
    data = encode(message, src=src, dst=dst)
    assert data[6:] == bytes.fromhex(vector)[6:]
    assert decode(data, src=src, dst=dst) == message


def test_unknown_binding_revocation_type_stays_generic() -> None:
    data = bytes.fromhex("3b 01 10 00 0000 07 00 0000 0000 0102 0000")
    message = decode(data)
    assert isinstance(message, GenericMessage) and message.type == 16
    assert encode(message) == data


def test_message_too_short_for_its_fixed_fields_is_refused() -> None:
    # a Binding Error needs 24 octets; Header Len 1 gives 16
    with pytest.raises(DecodeError) as caught:
        decode(bytes.fromhex("3b 01 07 00 0000 01 00 0000000000000000"))
    assert caught.value.what == "Binding Error" and caught.value.field == "Header Len"


@pytest.mark.parametrize(
    "build",
    [
        lambda: BindingUpdate(1 << 16, 0),
        lambda: BindingUpdate(0, -1),
        lambda: BindingUpdate(0, 0, ack=1),
        lambda: BindingUpdate(0, 0, options=(b"\x01",)),
        lambda: BindingUpdate(0, 0, options=5),
        lambda: BindingAck(256, 0, 0),
        lambda: Heartbeat(1 << 32),
        lambda: GenericMessage(11, b"\x00"),
        lambda: BindingError(1, "2001:db8::1"),
    ],
)
def test_message_constructors_refuse_bad_values(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError):
        build()


def test_options_may_be_given_as_a_list() -> None:
    message = BindingUpdate(1, 1, options=[MNID])  # type: ignore[arg-type]
    assert message.options == (MNID,)
    assert hash(message) == hash(BindingUpdate(1, 1, options=(MNID,)))


def test_flag_bits_match_the_registry() -> None:
    from apmip.wire import BAFlag, BUFlag

    bu_names = ("ack", "home", "link_local", "key_mgmt", "map_reg", "mobile_router", "proxy")
    bu_names += ("udp_encap", "tlv_header", "bulk")
    for name, bit in zip(bu_names, "AHLKMRPFTB", strict=True):
        assert BindingUpdate(0, 0, **{name: True}).flags == BUFlag[bit]
    for name, bit in zip(
        ("key_mgmt", "mobile_router", "proxy", "tlv_header", "bulk"), "KRPTB", strict=True
    ):
        assert BindingAck(0, 0, 0, **{name: True}).flags == BAFlag[bit]
