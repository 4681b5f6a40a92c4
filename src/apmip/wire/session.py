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

import functools

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
_FIXED_BY_TYPE = {int(MHType.BU): 6, int(MHType.BA): 6}
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


@functools.lru_cache(maxsize=16)
def _mac_head(vendor_id: int) -> bytes:
    head = bytes((OptionType.VENDOR_SPECIFIC, 5 + 1 + MAC_SIZE)) + vendor_id.to_bytes(4, "big")
    return head + bytes((SUBTYPE_MAC, VERSION))


def mac_span(data: bytes, vendor_id: int) -> tuple[int, int] | None:
    """Where the MAC value sits in an encoded BU or BA, or None if it has none.

    The MAC option must be the message's last option: only padding (Pad1 or one PadN) may
    follow it. That keeps finding it a single search from the end, and anything before it,
    a look-alike included, is covered by the MAC as ordinary data.
    """
    fixed = _FIXED_BY_TYPE.get(data[2]) if len(data) >= _MH_HEADER else None
    if fixed is None:
        return None
    end = min(len(data), (data[1] + 1) * 8)
    head = _mac_head(vendor_id)
    at = data.rfind(head, _MH_HEADER + fixed, end)
    if at < 0 or at + len(head) + MAC_SIZE > end:
        return None
    value = at + len(head)
    rest = data[value + MAC_SIZE : end]
    # after it only Pad1s (zeros) or one PadN: type 1, its length, zeros (RFC 6275 6.2.2)
    pad1 = rest == bytes(len(rest))
    padn = len(rest) >= 2 and rest[0] == 1 and rest[1] == len(rest) - 2 and not any(rest[2:])
    return (value, value + MAC_SIZE) if pad1 or padn else None
