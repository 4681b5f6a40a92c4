"""Hypothesis strategies for options and messages of the wire layer."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from apmip.wire import (
    AccessTechnologyType,
    AlternateCareOfAddress,
    AlternateIPv4CareOfAddress,
    BindingAck,
    BindingAuthorizationData,
    BindingError,
    BindingIdentifier,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingRevocationAck,
    BindingRevocationIndication,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    ExperimentalOption,
    GenericMessage,
    GreKey,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    HomeTest,
    HomeTestInit,
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
    Redirect,
    RedirectCapability,
    RestartCounter,
    Timestamp,
    UnknownOption,
    VendorSpecific,
)
from apmip.wire.options import OPTION_CLASSES

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
v4 = st.builds(ipaddress.IPv4Address, u32)
v6 = st.builds(ipaddress.IPv6Address, st.integers(0, (1 << 128) - 1))


@st.composite
def prefixes(draw: st.DrawFn) -> ipaddress.IPv6Network:
    length = draw(st.integers(0, 128))
    address = draw(st.integers(0, (1 << 128) - 1))
    mask = ((1 << length) - 1) << (128 - length) if length else 0
    return ipaddress.IPv6Network((address & mask, length))


unknown_types = st.integers(2, 255).filter(lambda t: t not in OPTION_CLASSES)

options = st.one_of(
    st.builds(BindingRefreshAdvice, u16),
    st.builds(AlternateCareOfAddress, v6),
    st.builds(NonceIndices, u16, u16),
    st.builds(BindingAuthorizationData, st.binary(max_size=40)),
    st.builds(MobileNodeIdentifier, u8, st.binary(min_size=1, max_size=60)),
    st.builds(MessageAuthentication, u8, u32, st.binary(max_size=40)),
    st.builds(MessageIdentification, u64),
    st.builds(ExperimentalOption, st.binary(max_size=40)),
    st.builds(VendorSpecific, u32, u8, st.binary(max_size=250)),
    st.builds(HomeNetworkPrefix, prefixes()),
    st.builds(HandoffIndicator, u8),
    st.builds(AccessTechnologyType, u8),
    st.builds(MobileNodeLinkLayerIdentifier, st.binary(min_size=1, max_size=20)),
    st.builds(LinkLocalAddress, v6),
    st.builds(Timestamp, u64),
    st.builds(RestartCounter, u32),
    st.builds(GreKey, st.none() | u32),
    st.builds(BindingIdentifier, u16, u8, st.booleans(), st.none() | v4 | v6),
    st.builds(IPv4HomeAddressRequest, st.integers(0, 32), v4),
    st.builds(IPv4HomeAddressReply, u8, st.integers(0, 32), v4),
    st.builds(IPv4DefaultRouterAddress, v4),
    st.builds(IPv4DhcpSupportMode, st.booleans()),
    st.just(RedirectCapability()),
    st.builds(Redirect, v4 | v6),
    st.builds(LoadInformation, u16, u32, u32, u32, u32),
    st.builds(AlternateIPv4CareOfAddress, v4),
    st.builds(MobileNodeGroupIdentifier, u8, u32),
    st.builds(UnknownOption, unknown_types, st.binary(max_size=40)),
)

option_lists = st.lists(options, max_size=8).map(tuple)

messages = st.one_of(
    st.builds(BindingRefreshRequest, option_lists),
    st.builds(HomeTestInit, u64, option_lists),
    st.builds(CareOfTestInit, u64, option_lists),
    st.builds(HomeTest, u16, u64, u64, option_lists),
    st.builds(CareOfTest, u16, u64, u64, option_lists),
    st.builds(
        BindingUpdate,
        u16,
        u16,
        *[st.booleans()] * 7,
        option_lists,
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(
        BindingAck, u8, u16, u16, *[st.booleans()] * 3, option_lists, st.booleans(), st.booleans()
    ),
    st.builds(BindingError, u8, v6, option_lists),
    st.builds(Heartbeat, u32, st.booleans(), st.booleans(), option_lists),
    st.builds(
        BindingRevocationIndication,
        u8,
        u16,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        option_lists,
    ),
    st.builds(
        BindingRevocationAck, u8, u16, st.booleans(), st.booleans(), st.booleans(), option_lists
    ),
    st.builds(
        GenericMessage,
        st.sampled_from([8, 9, 10, 11, 12, 14, 15, 17, 40, 255]),
        st.integers(0, 20).flatmap(lambda n: st.binary(min_size=2 + 8 * n, max_size=2 + 8 * n)),
    ),
)


@st.composite
def wire_messages(draw: st.DrawFn) -> bytes:
    """Valid Mobility Header bytes laid out freely: any fixed-field bits (reserved ones too),
    options at any position with any mix of Pad1 and PadN (with non-zero filler)."""
    mh_type, fixed = draw(
        st.sampled_from(
            [(0, 2), (1, 10), (2, 10), (3, 18), (4, 18), (5, 6), (6, 6), (7, 18), (13, 6)]
        )
        | st.tuples(st.just(16), st.just(6))
    )
    body = bytearray(draw(st.binary(min_size=fixed, max_size=fixed)))
    if mh_type == 16:
        body[0] = draw(st.sampled_from([1, 2]))
    for option in draw(st.lists(options, max_size=6)):
        body += draw(_pads())
        body += option.encode_tlv()
    body += draw(_pads())
    gap = -(6 + len(body)) % 8
    if gap == 1:
        body += b"\x00"
    elif gap:
        body += bytes([1, gap - 2]) + draw(st.binary(min_size=gap - 2, max_size=gap - 2))
    total = 6 + len(body)
    reserved = draw(u8)
    return bytes([59, total // 8 - 1, mh_type, reserved, 0, 0]) + bytes(body)


@st.composite
def _pads(draw: st.DrawFn) -> bytes:
    out = b""
    for kind in draw(st.lists(st.sampled_from(["pad1", "padn"]), max_size=3)):
        if kind == "pad1":
            out += b"\x00"
        else:
            filler = draw(st.binary(max_size=6))
            out += bytes([1, len(filler)]) + filler
    return out
