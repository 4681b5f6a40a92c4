"""Mobility options of the Proxy Mobile IPv6 extensions, one frozen dataclass each.

Owns: the options of RFC 5844 (IPv4 support), 5845 (GRE key), 5847 (heartbeat restart
counter), 5648 (binding identifier), 6463 (runtime LMA assignment) and 6602 (bulk
registration), with their alignment rules and length limits. The options of RFC 6275, 4283,
4285, 5094 and 5213, and the registry of all option classes, are in ``options``.
Must never: do I/O or raise anything but the errors of ``apmip.errors``.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from .base import Option, check_bool, check_ipv4, check_prefix4, check_uint, fail
from .registry import OptionType

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_2U8 = struct.Struct("!BB")
_BID = struct.Struct("!HBB")
_LOAD = struct.Struct("!HIIII")
_GROUP = struct.Struct("!BBI")


@dataclass(frozen=True, slots=True)
class RestartCounter(Option):
    """Restart Counter (RFC 5847 section 3.4), alignment 4n+2; only in Heartbeat responses."""

    TYPE: ClassVar[int] = OptionType.RESTART_COUNTER
    NAME: ClassVar[str] = "Restart Counter"
    ALIGN: ClassVar[tuple[int, int]] = (4, 2)
    LENGTH: ClassVar[int | None] = 4
    value: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "value", self.value, 32)

    def encode_data(self) -> bytes:
        return _U32.pack(self.value)

    @classmethod
    def from_data(cls, data: bytes) -> RestartCounter:
        return cls(_U32.unpack(data)[0])


@dataclass(frozen=True, slots=True)
class GreKey(Option):
    """GRE Key (RFC 5845 section 6.1), alignment 4n: Reserved (2), optional key (4).

    ``key`` None is the 2-octet form that only negotiates GRE encapsulation.
    """

    TYPE: ClassVar[int] = OptionType.GRE_KEY
    NAME: ClassVar[str] = "GRE Key"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    MIN_LENGTH: ClassVar[int] = 2
    MAX_LENGTH: ClassVar[int] = 6
    key: int | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            check_uint(self.NAME, "key", self.key, 32)

    def encode_data(self) -> bytes:
        if self.key is None:
            return b"\x00\x00"
        return b"\x00\x00" + _U32.pack(self.key)

    @classmethod
    def from_data(cls, data: bytes) -> GreKey:
        if len(data) == 2:
            return cls(None)
        if len(data) != 6:
            fail(cls.NAME, "length", f"is {len(data)}, must be 2 or 6")
        return cls(_U32.unpack_from(data, 2)[0])


@dataclass(frozen=True, slots=True)
class BindingIdentifier(Option):
    """Binding Identifier (RFC 5648 section 4.3).

    Data: BID (2), Status (1), H flag and 7 reserved bits (1), then an optional IPv4 or IPv6
    care-of address. Alignment 2n without an address, 8n+2 with one.
    """

    TYPE: ClassVar[int] = OptionType.BINDING_ID
    NAME: ClassVar[str] = "Binding Identifier"
    ALIGN: ClassVar[tuple[int, int]] = (2, 0)
    MIN_LENGTH: ClassVar[int] = 4
    MAX_LENGTH: ClassVar[int] = 20
    bid: int
    status: int = 0
    simultaneous_home: bool = False
    care_of_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None

    def __post_init__(self) -> None:
        check_uint(self.NAME, "BID", self.bid, 16)
        check_uint(self.NAME, "status", self.status, 8)
        check_bool(self.NAME, "H flag", self.simultaneous_home)
        coa = self.care_of_address
        if coa is not None and not isinstance(coa, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            fail(self.NAME, "care-of address", f"must be an IP address, got {type(coa).__name__}")

    def alignment(self) -> tuple[int, int]:
        return (2, 0) if self.care_of_address is None else (8, 2)

    def encode_data(self) -> bytes:
        head = _BID.pack(self.bid, self.status, 0x80 if self.simultaneous_home else 0)
        return head if self.care_of_address is None else head + self.care_of_address.packed

    @classmethod
    def from_data(cls, data: bytes) -> BindingIdentifier:
        if len(data) not in (4, 8, 20):
            fail(cls.NAME, "length", f"is {len(data)}, must be 4, 8 or 20")
        bid, status, flags = _BID.unpack_from(data)
        raw = bytes(data[4:])
        coa = ipaddress.ip_address(raw) if raw else None
        return cls(bid, status, bool(flags & 0x80), coa)


@dataclass(frozen=True, slots=True)
class IPv4HomeAddressRequest(Option):
    """IPv4 Home Address Request (RFC 5844 section 3.3.1), alignment 4n.

    Data: Prefix-len (6 bits) and 10 reserved bits, IPv4 home address (0.0.0.0 asks the LMA
    to allocate one).
    """

    TYPE: ClassVar[int] = OptionType.IPV4_HOA_REQUEST
    NAME: ClassVar[str] = "IPv4 Home Address Request"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 6
    prefix_len: int
    address: ipaddress.IPv4Address

    def __post_init__(self) -> None:
        check_prefix4(self.NAME, self.prefix_len)
        check_ipv4(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return _U16.pack(self.prefix_len << 10) + self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> IPv4HomeAddressRequest:
        word = _U16.unpack_from(data)[0]
        return cls(word >> 10, ipaddress.IPv4Address(bytes(data[2:6])))


@dataclass(frozen=True, slots=True)
class IPv4HomeAddressReply(Option):
    """IPv4 Home Address Reply (RFC 5844 section 3.3.2), alignment 4n.

    Data: Status (1), Prefix-len (6 bits) and 2 reserved bits, IPv4 home address.
    """

    TYPE: ClassVar[int] = OptionType.IPV4_HOA_REPLY
    NAME: ClassVar[str] = "IPv4 Home Address Reply"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 6
    status: int
    prefix_len: int
    address: ipaddress.IPv4Address

    def __post_init__(self) -> None:
        check_uint(self.NAME, "status", self.status, 8)
        check_prefix4(self.NAME, self.prefix_len)
        check_ipv4(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return _2U8.pack(self.status, self.prefix_len << 2) + self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> IPv4HomeAddressReply:
        status, octet = _2U8.unpack_from(data)
        return cls(status, octet >> 2, ipaddress.IPv4Address(bytes(data[2:6])))


@dataclass(frozen=True, slots=True)
class IPv4DefaultRouterAddress(Option):
    """IPv4 Default-Router Address (RFC 5844 section 3.3.3), alignment 4n."""

    TYPE: ClassVar[int] = OptionType.IPV4_DEFAULT_ROUTER
    NAME: ClassVar[str] = "IPv4 Default-Router Address"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 6
    address: ipaddress.IPv4Address

    def __post_init__(self) -> None:
        check_ipv4(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return b"\x00\x00" + self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> IPv4DefaultRouterAddress:
        return cls(ipaddress.IPv4Address(bytes(data[2:6])))


@dataclass(frozen=True, slots=True)
class IPv4DhcpSupportMode(Option):
    """IPv4 DHCP Support Mode (RFC 5844 section 3.3.4), no alignment.

    ``server`` is the S flag: the MAG acts as DHCP server (True) or relay (False).
    """

    TYPE: ClassVar[int] = OptionType.IPV4_DHCP_SUPPORT_MODE
    NAME: ClassVar[str] = "IPv4 DHCP Support Mode"
    LENGTH: ClassVar[int | None] = 2
    server: bool

    def __post_init__(self) -> None:
        check_bool(self.NAME, "S flag", self.server)

    def encode_data(self) -> bytes:
        return b"\x00\x01" if self.server else b"\x00\x00"

    @classmethod
    def from_data(cls, data: bytes) -> IPv4DhcpSupportMode:
        return cls(bool(data[1] & 1))


@dataclass(frozen=True, slots=True)
class RedirectCapability(Option):
    """Redirect-Capability (RFC 6463 section 4.1), alignment 4n: Reserved (2)."""

    TYPE: ClassVar[int] = OptionType.REDIRECT_CAPABILITY
    NAME: ClassVar[str] = "Redirect-Capability"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 2

    def encode_data(self) -> bytes:
        return b"\x00\x00"

    @classmethod
    def from_data(cls, data: bytes) -> RedirectCapability:
        return cls()


@dataclass(frozen=True, slots=True)
class Redirect(Option):
    """Redirect (RFC 6463 section 4.2), alignment 4n: K/N flags, then one r2LMA address.

    Exactly one address, IPv6 (K set, length 18) or IPv4 (N set, length 6).
    """

    TYPE: ClassVar[int] = OptionType.REDIRECT
    NAME: ClassVar[str] = "Redirect"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    MIN_LENGTH: ClassVar[int] = 6
    MAX_LENGTH: ClassVar[int] = 18
    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    def __post_init__(self) -> None:
        if not isinstance(self.address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            fail(self.NAME, "address", f"must be an IP address, got {type(self.address).__name__}")

    def encode_data(self) -> bytes:
        flags = 0x8000 if self.address.version == 6 else 0x4000
        return _U16.pack(flags) + self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> Redirect:
        flags = _U16.unpack_from(data)[0] & 0xC000
        if flags == 0x8000 and len(data) == 18:
            return cls(ipaddress.IPv6Address(bytes(data[2:])))
        if flags == 0x4000 and len(data) == 6:
            return cls(ipaddress.IPv4Address(bytes(data[2:])))
        fail(cls.NAME, "K/N flags", f"flags 0x{flags:04x} do not match length {len(data)}")


@dataclass(frozen=True, slots=True)
class LoadInformation(Option):
    """Load Information (RFC 6463 section 4.3), alignment 4n."""

    TYPE: ClassVar[int] = OptionType.LOAD_INFORMATION
    NAME: ClassVar[str] = "Load Information"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 18
    priority: int
    sessions_in_use: int
    maximum_sessions: int
    used_capacity: int
    maximum_capacity: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "priority", self.priority, 16)
        check_uint(self.NAME, "sessions in use", self.sessions_in_use, 32)
        check_uint(self.NAME, "maximum sessions", self.maximum_sessions, 32)
        check_uint(self.NAME, "used capacity", self.used_capacity, 32)
        check_uint(self.NAME, "maximum capacity", self.maximum_capacity, 32)

    def encode_data(self) -> bytes:
        return _LOAD.pack(
            self.priority,
            self.sessions_in_use,
            self.maximum_sessions,
            self.used_capacity,
            self.maximum_capacity,
        )

    @classmethod
    def from_data(cls, data: bytes) -> LoadInformation:
        return cls(*_LOAD.unpack(data))


@dataclass(frozen=True, slots=True)
class AlternateIPv4CareOfAddress(Option):
    """Alternate IPv4 Care-of Address (RFC 6463 section 4.4), alignment 4n+2."""

    TYPE: ClassVar[int] = OptionType.ALTERNATE_IPV4_COA
    NAME: ClassVar[str] = "Alternate IPv4 Care-of Address"
    ALIGN: ClassVar[tuple[int, int]] = (4, 2)
    LENGTH: ClassVar[int | None] = 4
    address: ipaddress.IPv4Address

    def __post_init__(self) -> None:
        check_ipv4(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> AlternateIPv4CareOfAddress:
        return cls(ipaddress.IPv4Address(bytes(data)))


@dataclass(frozen=True, slots=True)
class MobileNodeGroupIdentifier(Option):
    """Mobile Node Group Identifier (RFC 6602 section 4.3): Sub-type, Reserved, identifier.

    RFC 6602 states no alignment; the figure places the option on a 4-octet boundary, which
    puts the 32-bit identifier on its natural boundary, so this codec uses 4n.
    """

    TYPE: ClassVar[int] = OptionType.MN_GROUP_ID
    NAME: ClassVar[str] = "Mobile Node Group Identifier"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    LENGTH: ClassVar[int | None] = 6
    subtype: int
    group_id: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "subtype", self.subtype, 8)
        check_uint(self.NAME, "group identifier", self.group_id, 32)

    def encode_data(self) -> bytes:
        return _GROUP.pack(self.subtype, 0, self.group_id)

    @classmethod
    def from_data(cls, data: bytes) -> MobileNodeGroupIdentifier:
        subtype, _, group = _GROUP.unpack(data)
        return cls(subtype, group)
