"""The Mobility Header codec: bytes <-> messages (RFC 6275 section 6.1).

Owns: the 6-octet header (Payload Proto, Header Len, MH Type, Reserved, Checksum), the
checksum over the IPv6 pseudo-header, option placement with Pad1/PadN and the walk over
received options.
Must never: read past the buffer it was given, raise anything but DecodeError when decoding
or EncodeError when encoding, or do I/O.

Checksum rule. With ``src`` and ``dst`` the checksum is computed (encode) or verified
(decode) as RFC 6275 section 6.1.1 asks. Without them, as for the IPv4/UDP transport of
RFC 5844 section 4 where the Mobility Header checksum is zero and ignored, the encoder writes
zero and the decoder does not look at it.

Speed. Decoding works on one ``bytes`` object (other buffers, memoryview included, are copied
once) with precompiled ``struct.Struct`` readers at offsets, so nothing is sliced except the
data that ends up in an option; options decoded from the same octets before are reused.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence

from apmip.errors import DecodeError, EncodeError

from .base import _PADS, FieldError, Option
from .messages import (
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
)
from .options import OPTION_CLASSES, UnknownOption
from .registry import IPPROTO_MH, IPPROTO_NONE, MAX_MESSAGE, MAX_OPTION_DATA, MHType

_HEADER = struct.Struct("!BBBBH")
_TL = struct.Struct("!BB")

#: message classes by MH Type; other types decode as GenericMessage
MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.MH_TYPE: cls
    for cls in (
        BindingRefreshRequest,
        HomeTestInit,
        CareOfTestInit,
        HomeTest,
        CareOfTest,
        BindingUpdate,
        BindingAck,
        BindingError,
        Heartbeat,
    )
}
#: Binding Revocation messages by B.R. Type (RFC 5846 section 5); others stay generic
REVOCATION_CLASSES: dict[int, type[Message]] = {
    BindingRevocationIndication.BR_TYPE: BindingRevocationIndication,
    BindingRevocationAck.BR_TYPE: BindingRevocationAck,
}

_Address = ipaddress.IPv6Address


def _name(mh_type: int, data: bytes) -> str:
    cls = MESSAGE_CLASSES.get(mh_type)
    if mh_type == MHType.BINDING_REVOCATION and len(data) > 6:
        cls = REVOCATION_CLASSES.get(data[6])
    if cls is not None:
        return cls.NAME
    try:
        return f"Mobility Header type {mh_type} ({MHType(mh_type).name})"
    except ValueError:
        return f"Mobility Header type {mh_type}"


def checksum(src: _Address, dst: _Address, data: bytes) -> int:
    """The Mobility Header checksum of ``data`` (its Checksum field taken as zero).

    RFC 6275 section 6.1.1: the 16-bit one's complement of the one's complement sum of the
    IPv6 pseudo-header (RFC 8200 section 8.1, Next Header 135) and the whole message.
    """
    return 0xFFFF - _ones_sum(src, dst, data[:4] + b"\x00\x00" + data[6:])


def verify_checksum(src: _Address, dst: _Address, data: bytes) -> bool:
    """Whether the Checksum field of ``data`` is right for these addresses."""
    return _ones_sum(src, dst, data) == 0xFFFF


def _ones_sum(src: _Address, dst: _Address, data: bytes | bytearray) -> int:
    # The one's complement sum of 16-bit words equals the number they form modulo 0xFFFF
    # (2**16 is 1 modulo 0xFFFF), so each part of the pseudo-header (RFC 8200 section 8.1)
    # can be added as a whole number; a non-zero total is written 0xFFFF, not 0.
    value = int.from_bytes(data, "big")
    if len(data) % 2:
        value <<= 8
    total = (int(src) + int(dst) + len(data) + IPPROTO_MH + value) % 0xFFFF
    return total or 0xFFFF


def _addresses(src: object, dst: object, decoding: bool) -> bool:
    if src is None and dst is None:
        return False
    if isinstance(src, _Address) and isinstance(dst, _Address):
        return True
    detail = f"the checksum needs src and dst as IPv6Address, got {src!r} and {dst!r}"
    if decoding:
        raise DecodeError("Mobility Header", "addresses", 0, detail)
    raise EncodeError(detail)


def encode_options(options: Sequence[Option], start: int) -> bytes:
    """The options placed from offset ``start`` with their alignment, padded to 8n."""
    out = bytearray()
    _place(out, options, start)
    return bytes(out)


def _place(out: bytearray, options: Sequence[Option], pos: int) -> None:
    # appends the options to ``out``, where the next octet sits at offset ``pos`` of the
    # message, with Pad1/PadN before each as its alignment needs (RFC 6275 section 6.2)
    pads = _PADS
    static = _STATIC
    for option in options:
        known = static.get(type(option))
        if known is None:
            kind = option.option_type
            x, y = option.alignment()
        else:
            kind, x, y = known
        gap = (y - pos) % x
        if gap:
            out += pads[gap]
            pos += gap
        data = option.encode_data()
        size = len(data)
        if size > MAX_OPTION_DATA:
            option.encode_tlv()  # raises the error that names the option and its size
        out.append(kind)
        out.append(size)
        out += data
        pos += 2 + size
    gap = -pos % 8
    if gap:
        out += pads[gap]


# Option Type and alignment of the classes whose instances all share them
_STATIC: dict[type[Option], tuple[int, int, int]] = {
    cls: (int(cls.TYPE), *cls.ALIGN)
    for cls in OPTION_CLASSES.values()
    if cls.alignment is Option.alignment and cls.option_type is Option.option_type
}


def encode(message: Message, *, src: _Address | None = None, dst: _Address | None = None) -> bytes:
    """The bytes of ``message``; with ``src`` and ``dst`` the Checksum is filled in."""
    with_checksum = (src is not None or dst is not None) and _addresses(src, dst, False)
    wire = message._wire
    if wire is None:
        out = bytearray(_HEADER.pack(IPPROTO_NONE, 0, message.mh_type, 0, 0))
        out += message.encode_fixed()
        _place(out, message.options, len(out))
        total = len(out)
        if total > MAX_MESSAGE:
            raise EncodeError(_too_big(message, total, message.FIXED, message.options))
        out[1] = total // 8 - 1
    else:
        out = bytearray(wire)
        out[4] = out[5] = 0
    if with_checksum:
        value = 0xFFFF - _ones_sum(src, dst, out)  # type: ignore[arg-type]
        out[4] = value >> 8
        out[5] = value & 0xFF
    return bytes(out)


def _too_big(message: Message, total: int, fixed: int, options: Iterable[Option]) -> str:
    sizes: dict[str, list[int]] = {}
    for option in options:
        entry = sizes.setdefault(option.NAME, [0, 0])
        entry[0] += 1
        entry[1] += 2 + len(option.encode_data())
    parts = ", ".join(f"{n} {name} {size}" for name, (n, size) in sizes.items())
    return (
        f"{message.NAME} would be {total} bytes, more than the {MAX_MESSAGE} a Mobility Header "
        f"can carry (header and fixed fields {6 + fixed}, options: {parts or 'none'}, "
        "before padding)"
    )


def decode(
    data: bytes | bytearray | memoryview,
    *,
    src: _Address | None = None,
    dst: _Address | None = None,
) -> Message:
    """The message in ``data``, which must be exactly one Mobility Header message.

    Raises DecodeError, and nothing else, for anything malformed.
    """
    with_checksum = (src is not None or dst is not None) and _addresses(src, dst, True)
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < 8:
        raise DecodeError("Mobility Header", "length", 0, f"{size} bytes, at least 8 needed")
    proto, header_len, mh_type, _, value = _HEADER.unpack_from(data)

    # RFC 6275 section 6.1.1: Payload Proto is IPPROTO_NONE, Header Len counts 8-octet units
    # beyond the first 8
    if proto != IPPROTO_NONE:
        raise DecodeError(
            _name(mh_type, data), "Payload Proto", 0, f"is {proto}, must be {IPPROTO_NONE}"
        )
    total = (header_len + 1) * 8
    if total != size:
        raise DecodeError(
            _name(mh_type, data),
            "Header Len",
            1,
            f"{header_len} means {total} bytes, but {size} were given",
        )
    if with_checksum and _ones_sum(src, dst, data) != 0xFFFF:  # type: ignore[arg-type]
        expected = checksum(src, dst, data)  # type: ignore[arg-type]
        raise DecodeError(
            _name(mh_type, data),
            "Checksum",
            4,
            f"is 0x{value:04x}, the message sums to 0x{expected:04x}",
        )

    cls = MESSAGE_CLASSES.get(mh_type)
    if mh_type == MHType.BINDING_REVOCATION:
        cls = REVOCATION_CLASSES.get(data[6])
    if cls is None:
        message: Message = GenericMessage(mh_type, data[6:])
    else:
        start = 6 + cls.FIXED
        name = cls.NAME
        if size < start:
            raise DecodeError(
                name, "Header Len", 1, f"{size} bytes, the fixed fields need at least {start}"
            )
        options = decode_options(data, start, size, name)
        try:
            message = cls.from_fixed(data[6:start], options)
        except FieldError as exc:
            raise DecodeError(name, exc.field, 6, exc.detail) from None
    object.__setattr__(message, "_wire", data)
    return message


def decode_options(data: bytes, pos: int, end: int, what: str) -> tuple[Option, ...]:
    """The options in ``data[pos:end]`` without padding (RFC 6275 section 6.2)."""
    options: list[Option] = []
    classes = OPTION_CLASSES
    seen = _SEEN
    while pos < end:
        kind = data[pos]
        if kind == 0:  # Pad1 has no Length octet
            pos += 1
            continue
        if pos + 2 > end:
            raise DecodeError(
                what, "option length", pos, f"option type {kind} has no Length octet before {end}"
            )
        length = data[pos + 1]
        after = pos + 2 + length
        if after > end:
            raise DecodeError(
                what,
                "option length",
                pos + 1,
                f"option type {kind} of length {length} ends at {after}, past the end {end}",
            )
        if kind != 1:  # PadN is dropped
            # options are immutable values, so one decoded from the same octets before is
            # reused: signalling for a mobile node repeats most options in every message
            cls = classes.get(kind)
            if cls is not None and not cls.REUSABLE:
                options.append(cls.decode_tlv(data, pos, length, what))
                pos = after
                continue
            tlv = data[pos:after]
            option = seen.get(tlv)
            if option is None:
                if cls is None:
                    option = UnknownOption(kind, tlv[2:])
                else:
                    option = cls.decode_tlv(data, pos, length, what)
                if len(seen) >= _SEEN_MAX:
                    seen.clear()
                seen[tlv] = option
            options.append(option)
        pos = after
    return tuple(options)


# recently decoded options by their octets (Type, Length, Data); bounded
_SEEN: dict[bytes, Option] = {}
_SEEN_MAX = 4096
