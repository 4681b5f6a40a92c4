"""Mobility Header messages as frozen dataclasses (RFC 6275 section 6.1 and sequels).

Owns: the fixed fields of each message type (what follows the 6-octet Mobility Header
header and precedes the options), their validation, and lookups over a message's options.
A message holds its options in order and without padding. A message that came from
:func:`apmip.wire.mh.decode` also remembers the exact bytes it came from, so that encoding
it unchanged gives those bytes back (padding, reserved bits and all); any change made with
``dataclasses.replace`` makes a new object that is encoded afresh.
Must never: do I/O or raise anything but the errors of ``apmip.errors``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .base import Option, check_bool, check_bools, check_bytes, check_uint, fail
from .options import Pad1, PadN
from .registry import MHType, RevocationType

O = TypeVar("O", bound=Option)  # noqa: E741

_BU = struct.Struct("!HHH")
_BA = struct.Struct("!BBHH")
_INIT = struct.Struct("!2xQ")
_TEST = struct.Struct("!HQQ")
_HEARTBEAT = struct.Struct("!BBI")
_REVOCATION = struct.Struct("!BBHH")


def _check_options(what: str, options: Any) -> tuple[Option, ...]:
    if type(options) is not tuple:
        if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
            fail(what, "options", f"must be a tuple of options, got {type(options).__name__}")
        options = tuple(options)
    checked: tuple[Option, ...] = options
    for index, option in enumerate(checked):
        if type(option) in _OPTION_TYPES:
            continue
        if not isinstance(option, Option):
            fail(what, f"options[{index}]", f"is a {type(option).__name__}, not an option")
        if isinstance(option, (Pad1, PadN)):
            fail(what, f"options[{index}]", "padding is added by the encoder, do not pass it")
        _OPTION_TYPES.add(type(option))
    return checked


# option classes already seen to be valid message content (speeds up the check above)
_OPTION_TYPES: set[type] = set()


class Message:
    """Base of every Mobility Header message.

    Subclasses set ``MH_TYPE``, ``NAME`` and ``FIXED`` (octets of message data before the
    options) and implement ``encode_fixed()`` and ``from_fixed(data, options)``.
    """

    __slots__ = ()

    MH_TYPE: ClassVar[int]
    NAME: ClassVar[str] = "Mobility Header"
    FIXED: ClassVar[int] = 0
    options: tuple[Option, ...]
    _wire: bytes | None

    @property
    def mh_type(self) -> int:
        return self.MH_TYPE

    def encode_fixed(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        raise NotImplementedError

    def find(self, kind: type[O]) -> O | None:
        """The first option of class ``kind``, or None."""
        for option in self.options:
            if isinstance(option, kind):
                return option
        return None

    def find_all(self, kind: type[O]) -> tuple[O, ...]:
        """Every option of class ``kind``, in message order."""
        return tuple(option for option in self.options if isinstance(option, kind))


@dataclass(frozen=True, slots=True)
class BindingUpdate(Message):
    """Binding Update (RFC 6275 section 6.1.7); with ``proxy`` and ``ack`` a Proxy BU.

    ``lifetime`` is in the wire unit of 4 seconds (RFC 5213 section 8.1). A Proxy Binding
    Update has both the P and the A flag set (RFC 5213 section 8.1).
    """

    MH_TYPE: ClassVar[int] = MHType.BU
    NAME: ClassVar[str] = "Binding Update"
    FIXED: ClassVar[int] = 6

    sequence: int
    lifetime: int
    ack: bool = False
    home: bool = False
    link_local: bool = False
    key_mgmt: bool = False
    map_reg: bool = False
    mobile_router: bool = False
    proxy: bool = False
    options: tuple[Option, ...] = ()
    #: F, forcing UDP encapsulation (RFC 5555)
    udp_encap: bool = False
    #: T, TLV-header format (RFC 5845 section 6.2)
    tlv_header: bool = False
    #: B, bulk binding update (RFC 6602 section 4.1)
    bulk: bool = False
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    # flag fields in the order of _flag_values(); their bits are BUFlag (RFC 5213 section 10)
    _FLAG_NAMES: ClassVar[tuple[str, ...]] = (
        "ack",
        "home",
        "link_local",
        "key_mgmt",
        "map_reg",
        "mobile_router",
        "proxy",
        "udp_encap",
        "tlv_header",
        "bulk",
    )

    def __post_init__(self) -> None:
        check_uint(self.NAME, "sequence", self.sequence, 16)
        check_uint(self.NAME, "lifetime", self.lifetime, 16)
        bool_ = bool
        if not (
            type(self.ack) is bool_
            and type(self.home) is bool_
            and type(self.link_local) is bool_
            and type(self.key_mgmt) is bool_
            and type(self.map_reg) is bool_
            and type(self.mobile_router) is bool_
            and type(self.proxy) is bool_
            and type(self.udp_encap) is bool_
            and type(self.tlv_header) is bool_
            and type(self.bulk) is bool_
        ):
            check_bools(self.NAME, self._FLAG_NAMES, self._flag_values())
        options = _check_options(self.NAME, self.options)
        if options is not self.options:
            object.__setattr__(self, "options", options)

    def _flag_values(self) -> tuple[bool, ...]:
        return (
            self.ack,
            self.home,
            self.link_local,
            self.key_mgmt,
            self.map_reg,
            self.mobile_router,
            self.proxy,
            self.udp_encap,
            self.tlv_header,
            self.bulk,
        )

    @classmethod
    def proxy_update(
        cls, sequence: int, lifetime: int, options: Iterable[Option] = (), **flags: bool
    ) -> BindingUpdate:
        """A Proxy Binding Update: P and A set (RFC 5213 section 8.1)."""
        return cls(sequence, lifetime, ack=True, proxy=True, options=tuple(options), **flags)

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * 4

    @property
    def is_proxy(self) -> bool:
        return self.proxy

    @property
    def flags(self) -> int:
        """The 16-bit flags word as sent (reserved bits zero)."""
        return (
            (0x8000 if self.ack else 0)
            | (0x4000 if self.home else 0)
            | (0x2000 if self.link_local else 0)
            | (0x1000 if self.key_mgmt else 0)
            | (0x0800 if self.map_reg else 0)
            | (0x0400 if self.mobile_router else 0)
            | (0x0200 if self.proxy else 0)
            | (0x0100 if self.udp_encap else 0)
            | (0x0080 if self.tlv_header else 0)
            | (0x0040 if self.bulk else 0)
        )

    def encode_fixed(self) -> bytes:
        return _BU.pack(self.sequence, self.flags, self.lifetime)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> BindingUpdate:
        sequence, word, lifetime = _BU.unpack_from(data)
        return cls(
            sequence,
            lifetime,
            word & 0x8000 != 0,
            word & 0x4000 != 0,
            word & 0x2000 != 0,
            word & 0x1000 != 0,
            word & 0x0800 != 0,
            word & 0x0400 != 0,
            word & 0x0200 != 0,
            options,
            word & 0x0100 != 0,
            word & 0x0080 != 0,
            word & 0x0040 != 0,
        )


@dataclass(frozen=True, slots=True)
class BindingAck(Message):
    """Binding Acknowledgement (RFC 6275 section 6.1.8); with ``proxy`` a Proxy BA.

    ``status`` below 128 means accepted. ``lifetime`` is in units of 4 seconds.
    """

    MH_TYPE: ClassVar[int] = MHType.BA
    NAME: ClassVar[str] = "Binding Acknowledgement"
    FIXED: ClassVar[int] = 6

    status: int
    sequence: int
    lifetime: int
    key_mgmt: bool = False
    mobile_router: bool = False
    proxy: bool = False
    options: tuple[Option, ...] = ()
    #: T, TLV-header format (RFC 5845 section 6.3)
    tlv_header: bool = False
    #: B, bulk binding update (RFC 6602 section 4.2)
    bulk: bool = False
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    _FLAG_NAMES: ClassVar[tuple[str, ...]] = (
        "key_mgmt",
        "mobile_router",
        "proxy",
        "tlv_header",
        "bulk",
    )

    def __post_init__(self) -> None:
        check_uint(self.NAME, "status", self.status, 8)
        check_uint(self.NAME, "sequence", self.sequence, 16)
        check_uint(self.NAME, "lifetime", self.lifetime, 16)
        check_bools(self.NAME, self._FLAG_NAMES, self._flag_values())
        options = _check_options(self.NAME, self.options)
        if options is not self.options:
            object.__setattr__(self, "options", options)

    def _flag_values(self) -> tuple[bool, ...]:
        return (self.key_mgmt, self.mobile_router, self.proxy, self.tlv_header, self.bulk)

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * 4

    @property
    def accepted(self) -> bool:
        """Status below 128: the Binding Update was accepted (RFC 6275 section 6.1.8)."""
        return self.status < 128

    @property
    def flags(self) -> int:
        """The 8-bit flags octet as sent (reserved bits zero)."""
        return (
            (0x80 if self.key_mgmt else 0)
            | (0x40 if self.mobile_router else 0)
            | (0x20 if self.proxy else 0)
            | (0x10 if self.tlv_header else 0)
            | (0x08 if self.bulk else 0)
        )

    def encode_fixed(self) -> bytes:
        return _BA.pack(self.status, self.flags, self.sequence, self.lifetime)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> BindingAck:
        status, octet, sequence, lifetime = _BA.unpack_from(data)
        return cls(
            status,
            sequence,
            lifetime,
            octet & 0x80 != 0,
            octet & 0x40 != 0,
            octet & 0x20 != 0,
            options,
            octet & 0x10 != 0,
            octet & 0x08 != 0,
        )


@dataclass(frozen=True, slots=True)
class BindingRefreshRequest(Message):
    """Binding Refresh Request (RFC 6275 section 6.1.2): Reserved (2), options."""

    MH_TYPE: ClassVar[int] = MHType.BRR
    NAME: ClassVar[str] = "Binding Refresh Request"
    FIXED: ClassVar[int] = 2

    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

    def encode_fixed(self) -> bytes:
        return b"\x00\x00"

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> BindingRefreshRequest:
        return cls(options)


@dataclass(frozen=True, slots=True)
class _InitMessage(Message):
    """The layout Home Test Init and Care-of Test Init share (RFC 6275 sections 6.1.3 and
    6.1.4): Reserved (2), Init Cookie (8)."""

    FIXED: ClassVar[int] = 10

    cookie: int
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "init cookie", self.cookie, 64)
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

    def encode_fixed(self) -> bytes:
        return _INIT.pack(self.cookie)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        return cls(_INIT.unpack(data)[0], options)


@dataclass(frozen=True, slots=True)
class HomeTestInit(_InitMessage):
    """Home Test Init (RFC 6275 section 6.1.3)."""

    MH_TYPE: ClassVar[int] = MHType.HOTI
    NAME: ClassVar[str] = "Home Test Init"


@dataclass(frozen=True, slots=True)
class CareOfTestInit(_InitMessage):
    """Care-of Test Init (RFC 6275 section 6.1.4)."""

    MH_TYPE: ClassVar[int] = MHType.COTI
    NAME: ClassVar[str] = "Care-of Test Init"


@dataclass(frozen=True, slots=True)
class _KeygenTest(Message):
    """The layout Home Test and Care-of Test share (RFC 6275 sections 6.1.5 and 6.1.6):
    Nonce Index (2), Init Cookie (8), Keygen Token (8)."""

    FIXED: ClassVar[int] = 18

    nonce_index: int
    cookie: int
    keygen_token: int
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "nonce index", self.nonce_index, 16)
        check_uint(self.NAME, "init cookie", self.cookie, 64)
        check_uint(self.NAME, "keygen token", self.keygen_token, 64)
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

    def encode_fixed(self) -> bytes:
        return _TEST.pack(self.nonce_index, self.cookie, self.keygen_token)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        index, cookie, token = _TEST.unpack(data)
        return cls(index, cookie, token, options)


@dataclass(frozen=True, slots=True)
class HomeTest(_KeygenTest):
    """Home Test (RFC 6275 section 6.1.5)."""

    MH_TYPE: ClassVar[int] = MHType.HOT
    NAME: ClassVar[str] = "Home Test"


@dataclass(frozen=True, slots=True)
class CareOfTest(_KeygenTest):
    """Care-of Test (RFC 6275 section 6.1.6)."""

    MH_TYPE: ClassVar[int] = MHType.COT
    NAME: ClassVar[str] = "Care-of Test"


@dataclass(frozen=True, slots=True)
class BindingError(Message):
    """Binding Error (RFC 6275 section 6.1.9): Status (1), Reserved (1), Home Address (16)."""

    MH_TYPE: ClassVar[int] = MHType.BE
    NAME: ClassVar[str] = "Binding Error"
    FIXED: ClassVar[int] = 18

    status: int
    home_address: ipaddress.IPv6Address
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "status", self.status, 8)
        if not isinstance(self.home_address, ipaddress.IPv6Address):
            fail(self.NAME, "home address", "must be an IPv6Address")
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

    def encode_fixed(self) -> bytes:
        return bytes((self.status, 0)) + self.home_address.packed

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        return cls(data[0], ipaddress.IPv6Address(bytes(data[2:18])), options)


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Heartbeat (RFC 5847 section 3.3): Reserved, U and R flags, Sequence Number (32 bits).

    ``response`` is the R flag (a request when False); ``unsolicited`` the U flag.
    """

    MH_TYPE: ClassVar[int] = MHType.HEARTBEAT
    NAME: ClassVar[str] = "Heartbeat"
    FIXED: ClassVar[int] = 6

    sequence: int
    response: bool = False
    unsolicited: bool = False
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "sequence", self.sequence, 32)
        check_bool(self.NAME, "response", self.response)
        check_bool(self.NAME, "unsolicited", self.unsolicited)
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

    def encode_fixed(self) -> bytes:
        flags = (2 if self.unsolicited else 0) | (1 if self.response else 0)
        return _HEARTBEAT.pack(0, flags, self.sequence)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        _, flags, sequence = _HEARTBEAT.unpack(data)
        return cls(sequence, bool(flags & 1), bool(flags & 2), options)


@dataclass(frozen=True, slots=True)
class BindingRevocationIndication(Message):
    """Binding Revocation Indication (RFC 5846 section 5.1): MH type 16, B.R. Type 1.

    Fields after the B.R. Type: Revocation Trigger (1), Sequence # (2), P V G flags.
    """

    MH_TYPE: ClassVar[int] = MHType.BINDING_REVOCATION
    BR_TYPE: ClassVar[int] = RevocationType.INDICATION
    NAME: ClassVar[str] = "Binding Revocation Indication"
    FIXED: ClassVar[int] = 6

    trigger: int
    sequence: int
    proxy: bool = False
    ipv4_only: bool = False
    global_: bool = False
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "revocation trigger", self.trigger, 8)
        _check_revocation(self)

    def encode_fixed(self) -> bytes:
        return _revocation_fixed(self, self.trigger)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        _, trigger, sequence, flags = _REVOCATION.unpack(data)
        return cls(trigger, sequence, *_revocation_flags(flags), options)


@dataclass(frozen=True, slots=True)
class BindingRevocationAck(Message):
    """Binding Revocation Acknowledgement (RFC 5846 section 5.2): MH type 16, B.R. Type 2."""

    MH_TYPE: ClassVar[int] = MHType.BINDING_REVOCATION
    BR_TYPE: ClassVar[int] = RevocationType.ACKNOWLEDGEMENT
    NAME: ClassVar[str] = "Binding Revocation Acknowledgement"
    FIXED: ClassVar[int] = 6

    status: int
    sequence: int
    proxy: bool = False
    ipv4_only: bool = False
    global_: bool = False
    options: tuple[Option, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "status", self.status, 8)
        _check_revocation(self)

    def encode_fixed(self) -> bytes:
        return _revocation_fixed(self, self.status)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> Message:
        _, status, sequence, flags = _REVOCATION.unpack(data)
        return cls(status, sequence, *_revocation_flags(flags), options)


_Revocation = BindingRevocationIndication | BindingRevocationAck


def _check_revocation(message: _Revocation) -> None:
    check_uint(message.NAME, "sequence", message.sequence, 16)
    check_bool(message.NAME, "P flag", message.proxy)
    check_bool(message.NAME, "V flag", message.ipv4_only)
    check_bool(message.NAME, "G flag", message.global_)
    object.__setattr__(message, "options", _check_options(message.NAME, message.options))


def _revocation_fixed(message: _Revocation, value: int) -> bytes:
    flags = (
        (0x8000 if message.proxy else 0)
        | (0x4000 if message.ipv4_only else 0)
        | (0x2000 if message.global_ else 0)
    )
    return _REVOCATION.pack(message.BR_TYPE, value, message.sequence, flags)


def _revocation_flags(flags: int) -> tuple[bool, bool, bool]:
    return bool(flags & 0x8000), bool(flags & 0x4000), bool(flags & 0x2000)


@dataclass(frozen=True, slots=True)
class GenericMessage(Message):
    """A message of an MH type this codec does not model, kept as its Message Data.

    ``data`` is everything after the Checksum; the whole message must stay a multiple of
    8 octets (RFC 6275 section 6.1.1), so ``len(data)`` is 2, 10, 18, ...
    """

    NAME: ClassVar[str] = "Mobility Header"
    type: int
    data: bytes
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_uint(self.NAME, "MH type", self.type, 8)
        check_bytes(self.NAME, "data", self.data, 2, 2042)
        if (len(self.data) + 6) % 8:
            fail(self.NAME, "data", f"{len(self.data)} bytes: 6 + data must be a multiple of 8")

    @property
    def mh_type(self) -> int:
        return self.type

    @property
    def options(self) -> tuple[Option, ...]:  # type: ignore[override]
        return ()

    def encode_fixed(self) -> bytes:
        return self.data
