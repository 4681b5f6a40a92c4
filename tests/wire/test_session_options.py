"""The trust-session options: key share and MAC, laid out and found in encoded messages."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest

from apmip.errors import DecodeError
from apmip.wire import mh
from apmip.wire.messages import BindingAck, BindingUpdate
from apmip.wire.options import HomeNetworkPrefix, MobileNodeIdentifier, VendorSpecific
from apmip.wire.session import key_share_option, mac_placeholder, mac_span, read_key_share

V = 32473


def pba(*options):
    return mh.encode(BindingAck(status=0, sequence=7, lifetime=10, proxy=True, options=options))


def test_key_share_option_bytes():
    option = key_share_option(bytes(range(32)), V)
    assert option == VendorSpecific(V, 3, b"\x01" + bytes(range(32)))
    message = BindingAck(status=0, sequence=1, lifetime=0, proxy=True, options=(option,))
    assert read_key_share(message, V) == bytes(range(32))
    assert read_key_share(message, V + 1) is None  # another vendor's option is not ours


@pytest.mark.parametrize(
    "options",
    [
        (VendorSpecific(V, 3, b"\x01" + bytes(31)),),
        (VendorSpecific(V, 3, b"\x02" + bytes(32)),),
        (key_share_option(bytes(32), V), key_share_option(bytes(32), V)),
    ],
    ids=["short", "version-2", "twice"],
)
def test_bad_key_shares_are_refused(options):
    message = BindingAck(status=0, sequence=1, lifetime=0, proxy=True, options=options)
    with pytest.raises(DecodeError):
        read_key_share(message, V)


def test_mac_span_finds_the_last_option_and_only_that():
    mn = MobileNodeIdentifier(identifier=b"mn@x")
    data = pba(mn, mac_placeholder(V))
    start, end = mac_span(data, V)  # the 16 octets after the 8-octet head of the option
    assert end - start == 16
    assert data[start - 8 : start] == bytes((19, 22)) + V.to_bytes(4, "big") + b"\x04\x01"
    assert data[start:end] == bytes(16)
    assert data[end:] == b"\x01\x00"  # only padding follows: a PadN to the 8-octet end
    # a MAC option followed by another option is not where a MAC may stand
    hnp = HomeNetworkPrefix(prefix=IPv6Network("2001:db8::/64"))
    assert mac_span(pba(mn, mac_placeholder(V), hnp), V) is None
    assert mac_span(pba(mn), V) is None
    assert mac_span(pba(mn, mac_placeholder(V + 1)), V) is None
    # a look-alike inside an earlier option's data does not move the MAC
    lookalike = VendorSpecific(7, 9, bytes((19, 22)) + V.to_bytes(4, "big") + b"\x04\x01")
    data = pba(lookalike, mac_placeholder(V))
    start, _ = mac_span(data, V)
    assert start > data.find(bytes((19, 22)) + V.to_bytes(4, "big") + b"\x04\x01") + 8


def test_mac_span_never_raises_on_short_or_odd_input():
    base = pba(MobileNodeIdentifier(identifier=b"mn@x"), mac_placeholder(V))
    for cut in range(len(base) + 1):
        assert mac_span(base[:cut], V) in (None, mac_span(base, V))
    tail = bytearray(base)
    tail[-1] = 1  # the trailing padding is no longer padding
    assert mac_span(bytes(tail), V) is None
    assert mac_span(b"", V) is None and mac_span(b"\x3b", V) is None
    bu = mh.encode(
        BindingUpdate(sequence=1, lifetime=1, ack=True, proxy=True, options=(mac_placeholder(V),))
    )
    assert mac_span(bu, V) is not None
