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

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .base import Option, check_bool, check_bytes, check_uint, fail
from .options import Pad1, PadN
from .registry import BAFlag, BUFlag, MHType

O = TypeVar("O", bound=Option)  # noqa: E741

_BU = struct.Struct("!HHH")
_BA = struct.Struct("!BBHH")


def _check_options(what: str, options: Any) -> tuple[Option, ...]:
    if not isinstance(options, tuple):
        if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
            fail(what, "options", f"must be a tuple of options, got {type(options).__name__}")
        options = tuple(options)
    checked: tuple[Option, ...] = options
    for index, option in enumerate(checked):
        if not isinstance(option, Option):
            fail(what, f"options[{index}]", f"is a {type(option).__name__}, not an option")
        if isinstance(option, (Pad1, PadN)):
            fail(what, f"options[{index}]", "padding is added by the encoder, do not pass it")
    return checked


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

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("ack", BUFlag.A),
        ("home", BUFlag.H),
        ("link_local", BUFlag.L),
        ("key_mgmt", BUFlag.K),
        ("map_reg", BUFlag.M),
        ("mobile_router", BUFlag.R),
        ("proxy", BUFlag.P),
        ("udp_encap", BUFlag.F),
        ("tlv_header", BUFlag.T),
        ("bulk", BUFlag.B),
    )

    def __post_init__(self) -> None:
        check_uint(self.NAME, "sequence", self.sequence, 16)
        check_uint(self.NAME, "lifetime", self.lifetime, 16)
        for name, _ in self._FLAGS:
            check_bool(self.NAME, name, getattr(self, name))
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

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
        word = 0
        for name, bit in self._FLAGS:
            if getattr(self, name):
                word |= bit
        return word

    def encode_fixed(self) -> bytes:
        return _BU.pack(self.sequence, self.flags, self.lifetime)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> BindingUpdate:
        sequence, word, lifetime = _BU.unpack_from(data)
        return cls(
            sequence,
            lifetime,
            bool(word & 0x8000),
            bool(word & 0x4000),
            bool(word & 0x2000),
            bool(word & 0x1000),
            bool(word & 0x0800),
            bool(word & 0x0400),
            bool(word & 0x0200),
            options,
            bool(word & 0x0100),
            bool(word & 0x0080),
            bool(word & 0x0040),
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

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("key_mgmt", BAFlag.K),
        ("mobile_router", BAFlag.R),
        ("proxy", BAFlag.P),
        ("tlv_header", BAFlag.T),
        ("bulk", BAFlag.B),
    )

    def __post_init__(self) -> None:
        check_uint(self.NAME, "status", self.status, 8)
        check_uint(self.NAME, "sequence", self.sequence, 16)
        check_uint(self.NAME, "lifetime", self.lifetime, 16)
        for name, _ in self._FLAGS:
            check_bool(self.NAME, name, getattr(self, name))
        object.__setattr__(self, "options", _check_options(self.NAME, self.options))

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
        octet = 0
        for name, bit in self._FLAGS:
            if getattr(self, name):
                octet |= bit
        return octet

    def encode_fixed(self) -> bytes:
        return _BA.pack(self.status, self.flags, self.sequence, self.lifetime)

    @classmethod
    def from_fixed(cls, data: bytes, options: tuple[Option, ...]) -> BindingAck:
        status, octet, sequence, lifetime = _BA.unpack_from(data)
        return cls(
            status,
            sequence,
            lifetime,
            bool(octet & 0x80),
            bool(octet & 0x40),
            bool(octet & 0x20),
            options,
            bool(octet & 0x10),
            bool(octet & 0x08),
        )


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
