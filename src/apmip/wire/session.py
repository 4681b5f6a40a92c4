"""The trust-session options: a key share and a message authentication code.

Both are Vendor-Specific Mobility Options (RFC 5094) of the configured vendor, next to the
attestation request and evidence fragments of :mod:`apmip.wire.attestation`::

    key share (sub-type 3): version=1 | X25519 public key (32)
    MAC       (sub-type 4): version=1 | HMAC-SHA-256 truncated to 16 octets

A MAG and an LMA that appraised each other agree a session key from the two key shares their
evidence was bound to; every later message between them carries the MAC option. This module
only lays the options out and finds the MAC's octets in an encoded message; the keys and the
HMAC are :mod:`apmip.core.session`'s.
Must never: do I/O or cryptography, or raise anything but the errors of ``apmip.errors``.
"""

from __future__ import annotations

from apmip.errors import DecodeError

from .messages import Message
from .options import VendorSpecific
from .registry import MHType, OptionType

VERSION = 1
SUBTYPE_KEY_SHARE = 3
SUBTYPE_MAC = 4
KEY_SHARE_SIZE = 32
MAC_SIZE = 16

# octets of the MH header (Payload Proto, Header Len, MH Type, Reserved, Checksum) and of the
# fixed part of each message that may carry a MAC (RFC 6275 sections 6.1.7 and 6.1.8)
_MH_HEADER = 6
_FIXED = {MHType.BU: 6, MHType.BA: 6}
# option header, Vendor ID, Sub-Type, version: where the MAC value starts inside the option
_MAC_AT = 2 + 4 + 1 + 1


def key_share_option(public: bytes, vendor_id: int) -> VendorSpecific:
    if len(public) != KEY_SHARE_SIZE:
        raise DecodeError("key share", "public key", 0, f"{len(public)} bytes, not 32")
    return VendorSpecific(vendor_id, SUBTYPE_KEY_SHARE, bytes([VERSION]) + public)


def mac_placeholder(vendor_id: int) -> VendorSpecific:
    """The MAC option with its value zeroed, to be filled in after encoding."""
    return VendorSpecific(vendor_id, SUBTYPE_MAC, bytes([VERSION]) + bytes(MAC_SIZE))


def _ours(message: Message, vendor_id: int, subtype: int) -> list[VendorSpecific]:
    return [
        option
        for option in message.find_all(VendorSpecific)
        if option.vendor_id == vendor_id and option.subtype == subtype
    ]


def read_key_share(message: Message, vendor_id: int) -> bytes | None:
    """The peer's X25519 public key, or None; a malformed or repeated one is refused."""
    found = _ours(message, vendor_id, SUBTYPE_KEY_SHARE)
    if not found:
        return None
    if len(found) > 1:
        raise DecodeError("key share", "sub-type", 0, f"{len(found)} key shares in one message")
    data = found[0].data
    if len(data) != 1 + KEY_SHARE_SIZE or data[0] != VERSION:
        raise DecodeError(
            "key share",
            "data",
            0,
            f"{len(data)} bytes version {data[:1].hex() or '-'}, "
            f"expected version {VERSION} and {KEY_SHARE_SIZE} key bytes",
        )
    return data[1:]


def mac_span(data: bytes, vendor_id: int) -> tuple[int, int] | None:
    """Where the single MAC value sits in an encoded BU or BA, or None if it has none.

    Two MAC options, or one of the wrong size, make the message unauthenticable: None too.
    The walk trusts nothing but the bounds of ``data``.
    """
    if len(data) < _MH_HEADER or data[2] not in _FIXED:
        return None
    end = min(len(data), (data[1] + 1) * 8)
    at = _MH_HEADER + _FIXED[MHType(data[2])]
    spans = []
    while at < end:
        kind = data[at]
        if kind == OptionType.PAD1:
            at += 1
            continue
        if at + 2 > end or at + 2 + data[at + 1] > end:
            return None
        length = data[at + 1]
        if (
            kind == OptionType.VENDOR_SPECIFIC
            and length >= 5
            and int.from_bytes(data[at + 2 : at + 6], "big") == vendor_id
            and data[at + 6] == SUBTYPE_MAC
        ):
            if length != 5 + 1 + MAC_SIZE or data[at + 7] != VERSION:
                return None
            spans.append((at + _MAC_AT, at + _MAC_AT + MAC_SIZE))
        at += 2 + length
    return spans[0] if len(spans) == 1 else None
