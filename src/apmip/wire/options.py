"""Mobility options: one frozen dataclass per option type (RFC 6275 section 6.2 and sequels).

Owns: the Option Data layout of each option, its alignment rule and its length limits.
Each class has one validating constructor used both by code that builds messages and by the
decoder, so a decoded option is exactly as valid as a hand-built one. Padding options (Pad1,
PadN) exist as classes for completeness, but messages never hold them: the encoder adds
padding and the decoder drops it.
Must never: do I/O or raise anything but the errors of ``apmip.errors``.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from .base import FieldError, Option, check_bytes, check_ipv6, check_uint, fail
from .extensions import (
    AlternateIPv4CareOfAddress,
    BindingIdentifier,
    GreKey,
    IPv4DefaultRouterAddress,
    IPv4DhcpSupportMode,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LoadInformation,
    MobileNodeGroupIdentifier,
    Redirect,
    RedirectCapability,
    RestartCounter,
)
from .registry import OptionType

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_2U8 = struct.Struct("!BB")
_2U16 = struct.Struct("!HH")
_VSO = struct.Struct("!IB")
_HNP = struct.Struct("!BB16s")
_AUTH = struct.Struct("!BI")


def _prefix6(what: str, value: object) -> None:
    if not isinstance(value, ipaddress.IPv6Network):
        fail(what, "prefix", f"must be an IPv6Network, got {type(value).__name__}")


def _network6(what: str, length: int, raw: bytes) -> ipaddress.IPv6Network:
    if length > 128:
        fail(what, "prefix length", f"{length} is more than 128")
    try:
        return ipaddress.IPv6Network((raw, length))
    except ValueError:
        fail(what, "prefix", f"{ipaddress.IPv6Address(raw)} has bits set past /{length}")


@dataclass(frozen=True, slots=True)
class Pad1(Option):
    """Pad1 (RFC 6275 section 6.2.2): a single zero octet with no Length field."""

    TYPE: ClassVar[int] = OptionType.PAD1
    NAME: ClassVar[str] = "Pad1"

    def encode_data(self) -> bytes:
        return b""

    def encode_tlv(self) -> bytes:
        return b"\x00"

    @classmethod
    def from_data(cls, data: bytes) -> Pad1:
        return cls()


@dataclass(frozen=True, slots=True)
class PadN(Option):
    """PadN (RFC 6275 section 6.2.3): ``length`` octets of zero data after Type and Length."""

    TYPE: ClassVar[int] = OptionType.PADN
    NAME: ClassVar[str] = "PadN"
    length: int = 0

    def __post_init__(self) -> None:
        check_uint(self.NAME, "length", self.length, 8)

    def encode_data(self) -> bytes:
        return bytes(self.length)

    @classmethod
    def from_data(cls, data: bytes) -> PadN:
        return cls(len(data))


@dataclass(frozen=True, slots=True)
class BindingRefreshAdvice(Option):
    """Binding Refresh Advice (RFC 6275 section 6.2.4); ``interval`` in units of 4 s."""

    TYPE: ClassVar[int] = OptionType.BINDING_REFRESH_ADVICE
    NAME: ClassVar[str] = "Binding Refresh Advice"
    ALIGN: ClassVar[tuple[int, int]] = (2, 0)
    LENGTH: ClassVar[int | None] = 2
    interval: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "refresh interval", self.interval, 16)

    def encode_data(self) -> bytes:
        return _U16.pack(self.interval)

    @classmethod
    def from_data(cls, data: bytes) -> BindingRefreshAdvice:
        return cls(_U16.unpack(data)[0])


@dataclass(frozen=True, slots=True)
class AlternateCareOfAddress(Option):
    """Alternate Care-of Address (RFC 6275 section 6.2.5), alignment 8n+6."""

    TYPE: ClassVar[int] = OptionType.ALTERNATE_COA
    NAME: ClassVar[str] = "Alternate Care-of Address"
    ALIGN: ClassVar[tuple[int, int]] = (8, 6)
    LENGTH: ClassVar[int | None] = 16
    address: ipaddress.IPv6Address

    def __post_init__(self) -> None:
        check_ipv6(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> AlternateCareOfAddress:
        return cls(ipaddress.IPv6Address(bytes(data)))


@dataclass(frozen=True, slots=True)
class NonceIndices(Option):
    """Nonce Indices (RFC 6275 section 6.2.6), alignment 2n."""

    TYPE: ClassVar[int] = OptionType.NONCE_INDICES
    NAME: ClassVar[str] = "Nonce Indices"
    ALIGN: ClassVar[tuple[int, int]] = (2, 0)
    LENGTH: ClassVar[int | None] = 4
    home_nonce_index: int
    careof_nonce_index: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "home nonce index", self.home_nonce_index, 16)
        check_uint(self.NAME, "care-of nonce index", self.careof_nonce_index, 16)

    def encode_data(self) -> bytes:
        return _2U16.pack(self.home_nonce_index, self.careof_nonce_index)

    @classmethod
    def from_data(cls, data: bytes) -> NonceIndices:
        return cls(*_2U16.unpack(data))


@dataclass(frozen=True, slots=True)
class BindingAuthorizationData(Option):
    """Binding Authorization Data (RFC 6275 section 6.2.7), implicit alignment 8n+2."""

    TYPE: ClassVar[int] = OptionType.BINDING_AUTH_DATA
    NAME: ClassVar[str] = "Binding Authorization Data"
    REUSABLE: ClassVar[bool] = False
    ALIGN: ClassVar[tuple[int, int]] = (8, 2)
    authenticator: bytes

    def __post_init__(self) -> None:
        check_bytes(self.NAME, "authenticator", self.authenticator, 0, 255)

    def encode_data(self) -> bytes:
        return self.authenticator

    @classmethod
    def from_data(cls, data: bytes) -> BindingAuthorizationData:
        return cls(bytes(data))


@dataclass(frozen=True, slots=True)
class MobileNodeIdentifier(Option):
    """Mobile Node Identifier (RFC 4283 section 3): sub-type (1 = NAI) and identifier.

    No alignment requirement. The identifier must not be empty.
    """

    TYPE: ClassVar[int] = OptionType.MN_ID
    NAME: ClassVar[str] = "Mobile Node Identifier"
    MIN_LENGTH: ClassVar[int] = 2
    subtype: int = 1
    identifier: bytes = b""

    def __post_init__(self) -> None:
        check_uint(self.NAME, "subtype", self.subtype, 8)
        check_bytes(self.NAME, "identifier", self.identifier, 1, 254)

    def encode_data(self) -> bytes:
        return _U8.pack(self.subtype) + self.identifier

    @classmethod
    def from_data(cls, data: bytes) -> MobileNodeIdentifier:
        return cls(data[0], bytes(data[1:]))


@dataclass(frozen=True, slots=True)
class VendorSpecific(Option):
    """Vendor-Specific Mobility option (RFC 5094 section 3), alignment 4n+2.

    Vendor ID is an SMI enterprise number (4 octets), then a 1-octet sub-type and the data,
    so at most 250 data bytes fit.
    """

    TYPE: ClassVar[int] = OptionType.VENDOR_SPECIFIC
    NAME: ClassVar[str] = "Vendor-Specific"
    REUSABLE: ClassVar[bool] = False
    ALIGN: ClassVar[tuple[int, int]] = (4, 2)
    MIN_LENGTH: ClassVar[int] = 5
    vendor_id: int
    subtype: int
    data: bytes = b""

    def __post_init__(self) -> None:
        check_uint(self.NAME, "vendor id", self.vendor_id, 32)
        check_uint(self.NAME, "subtype", self.subtype, 8)
        check_bytes(self.NAME, "data", self.data, 0, 250)

    def encode_data(self) -> bytes:
        return _VSO.pack(self.vendor_id, self.subtype) + self.data

    @classmethod
    def from_data(cls, data: bytes) -> VendorSpecific:
        vendor_id, subtype = _VSO.unpack_from(data)
        return cls(vendor_id, subtype, bytes(data[5:]))


@dataclass(frozen=True, slots=True)
class HomeNetworkPrefix(Option):
    """Home Network Prefix (RFC 5213 section 8.3), alignment 8n+4.

    Data: Reserved (1), Prefix Length (1), Prefix (16). Bits past the prefix length must be
    zero; a prefix with host bits set is refused rather than silently masked.
    """

    TYPE: ClassVar[int] = OptionType.HOME_NETWORK_PREFIX
    NAME: ClassVar[str] = "Home Network Prefix"
    ALIGN: ClassVar[tuple[int, int]] = (8, 4)
    LENGTH: ClassVar[int | None] = 18
    prefix: ipaddress.IPv6Network

    def __post_init__(self) -> None:
        _prefix6(self.NAME, self.prefix)

    def encode_data(self) -> bytes:
        prefix = self.prefix
        return _HNP.pack(0, prefix.prefixlen, prefix.network_address.packed)

    @classmethod
    def from_data(cls, data: bytes) -> HomeNetworkPrefix:
        _, length, raw = _HNP.unpack(data)
        return cls(_network6(cls.NAME, length, raw))


@dataclass(frozen=True, slots=True)
class HandoffIndicator(Option):
    """Handoff Indicator (RFC 5213 section 8.4): Reserved (1), HI (1); no alignment."""

    TYPE: ClassVar[int] = OptionType.HANDOFF_INDICATOR
    NAME: ClassVar[str] = "Handoff Indicator"
    LENGTH: ClassVar[int | None] = 2
    value: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "value", self.value, 8)

    def encode_data(self) -> bytes:
        return _2U8.pack(0, self.value)

    @classmethod
    def from_data(cls, data: bytes) -> HandoffIndicator:
        return cls(data[1])


@dataclass(frozen=True, slots=True)
class AccessTechnologyType(Option):
    """Access Technology Type (RFC 5213 section 8.5): Reserved (1), ATT (1); no alignment."""

    TYPE: ClassVar[int] = OptionType.ACCESS_TECHNOLOGY_TYPE
    NAME: ClassVar[str] = "Access Technology Type"
    LENGTH: ClassVar[int | None] = 2
    value: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "value", self.value, 8)

    def encode_data(self) -> bytes:
        return _2U8.pack(0, self.value)

    @classmethod
    def from_data(cls, data: bytes) -> AccessTechnologyType:
        return cls(data[1])


@dataclass(frozen=True, slots=True)
class MobileNodeLinkLayerIdentifier(Option):
    """Mobile Node Link-layer Identifier (RFC 5213 section 8.6): Reserved (2), identifier.

    RFC 5213 asks for alignment "as per the size of the identifier" and draws the option
    starting on a 4-octet boundary; this codec places it at 4n. The identifier is at least
    1 octet.
    """

    TYPE: ClassVar[int] = OptionType.MN_LINK_LAYER_ID
    NAME: ClassVar[str] = "Mobile Node Link-layer Identifier"
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    MIN_LENGTH: ClassVar[int] = 3
    identifier: bytes

    def __post_init__(self) -> None:
        check_bytes(self.NAME, "identifier", self.identifier, 1, 253)

    def encode_data(self) -> bytes:
        return b"\x00\x00" + self.identifier

    @classmethod
    def from_data(cls, data: bytes) -> MobileNodeLinkLayerIdentifier:
        return cls(bytes(data[2:]))


@dataclass(frozen=True, slots=True)
class LinkLocalAddress(Option):
    """Link-local Address (RFC 5213 section 8.7), alignment 8n+6."""

    TYPE: ClassVar[int] = OptionType.LINK_LOCAL_ADDRESS
    NAME: ClassVar[str] = "Link-local Address"
    ALIGN: ClassVar[tuple[int, int]] = (8, 6)
    LENGTH: ClassVar[int | None] = 16
    address: ipaddress.IPv6Address

    def __post_init__(self) -> None:
        check_ipv6(self.NAME, "address", self.address)

    def encode_data(self) -> bytes:
        return self.address.packed

    @classmethod
    def from_data(cls, data: bytes) -> LinkLocalAddress:
        return cls(ipaddress.IPv6Address(bytes(data)))


@dataclass(frozen=True, slots=True)
class Timestamp(Option):
    """Timestamp (RFC 5213 section 8.8), alignment 8n+2.

    ``value`` is the raw 64-bit field: seconds since 1970-01-01 UTC as 48.16 fixed point
    (48 bits of seconds, 16 bits of fraction).
    """

    TYPE: ClassVar[int] = OptionType.TIMESTAMP
    NAME: ClassVar[str] = "Timestamp"
    REUSABLE: ClassVar[bool] = False
    ALIGN: ClassVar[tuple[int, int]] = (8, 2)
    LENGTH: ClassVar[int | None] = 8
    value: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "value", self.value, 64)

    @classmethod
    def from_seconds(cls, seconds: float) -> Timestamp:
        """The timestamp nearest to ``seconds`` since the epoch (a time the caller read)."""
        if not 0 <= seconds < (1 << 48):
            raise FieldError(cls.NAME, "seconds", f"{seconds} is outside 0..2**48")
        return cls(min(round(seconds * 65536), (1 << 64) - 1))

    @property
    def seconds(self) -> float:
        return self.value / 65536

    def encode_data(self) -> bytes:
        return _U64.pack(self.value)

    @classmethod
    def from_data(cls, data: bytes) -> Timestamp:
        return cls(_U64.unpack(data)[0])


@dataclass(frozen=True, slots=True)
class UnknownOption(Option):
    """An option this codec does not model, kept whole so it survives a round trip.

    RFC 6275 section 6.2.1: a receiver skips options it does not recognise. Its alignment is
    unknown, so the encoder places it with none.
    """

    NAME: ClassVar[str] = "unknown option"
    type: int
    data: bytes = b""

    def __post_init__(self) -> None:
        check_uint(self.NAME, "type", self.type, 8)
        if self.type in OPTION_CLASSES or self.type in (OptionType.PAD1, OptionType.PADN):
            fail(self.NAME, "type", f"{self.type} is a known option type; use its own class")
        check_bytes(self.NAME, "data", self.data, 0, 255)

    @property
    def option_type(self) -> int:
        return self.type

    def encode_data(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class MessageAuthentication(Option):
    """Mobility Message Authentication (RFC 4285 section 5), alignment 4n+1.

    Data: Subtype (1 = MN-HA, 2 = MN-AAA), Mobility SPI (4), Authentication Data.
    """

    TYPE: ClassVar[int] = OptionType.MESSAGE_AUTH
    NAME: ClassVar[str] = "Mobility Message Authentication"
    REUSABLE: ClassVar[bool] = False
    ALIGN: ClassVar[tuple[int, int]] = (4, 1)
    MIN_LENGTH: ClassVar[int] = 5
    subtype: int
    spi: int
    auth_data: bytes = b""

    def __post_init__(self) -> None:
        check_uint(self.NAME, "subtype", self.subtype, 8)
        check_uint(self.NAME, "mobility SPI", self.spi, 32)
        check_bytes(self.NAME, "authentication data", self.auth_data, 0, 250)

    def encode_data(self) -> bytes:
        return _AUTH.pack(self.subtype, self.spi) + self.auth_data

    @classmethod
    def from_data(cls, data: bytes) -> MessageAuthentication:
        subtype, spi = _AUTH.unpack_from(data)
        return cls(subtype, spi, bytes(data[5:]))


@dataclass(frozen=True, slots=True)
class MessageIdentification(Option):
    """Mobility Message Replay Protection / Identification (RFC 4285 section 6), 8n+2.

    ``timestamp`` is the raw 64-bit NTP-format value (32 bits of seconds since 1900, 32 of
    fraction).
    """

    TYPE: ClassVar[int] = OptionType.MESSAGE_ID
    NAME: ClassVar[str] = "Mobility Message Identification"
    REUSABLE: ClassVar[bool] = False
    ALIGN: ClassVar[tuple[int, int]] = (8, 2)
    LENGTH: ClassVar[int | None] = 8
    timestamp: int

    def __post_init__(self) -> None:
        check_uint(self.NAME, "timestamp", self.timestamp, 64)

    def encode_data(self) -> bytes:
        return _U64.pack(self.timestamp)

    @classmethod
    def from_data(cls, data: bytes) -> MessageIdentification:
        return cls(_U64.unpack(data)[0])


@dataclass(frozen=True, slots=True)
class ExperimentalOption(Option):
    """Experimental Mobility option (RFC 5096 section 4): opaque data, no alignment."""

    TYPE: ClassVar[int] = OptionType.EXPERIMENTAL
    NAME: ClassVar[str] = "Experimental"
    data: bytes = b""

    def __post_init__(self) -> None:
        check_bytes(self.NAME, "data", self.data, 0, 255)

    def encode_data(self) -> bytes:
        return self.data

    @classmethod
    def from_data(cls, data: bytes) -> ExperimentalOption:
        return cls(bytes(data))


#: option classes by Option Type; Pad1 and PadN are handled by the option walker itself
OPTION_CLASSES: dict[int, type[Option]] = {
    cls.TYPE: cls
    for cls in (
        BindingRefreshAdvice,
        AlternateCareOfAddress,
        NonceIndices,
        BindingAuthorizationData,
        MobileNodeIdentifier,
        VendorSpecific,
        HomeNetworkPrefix,
        HandoffIndicator,
        AccessTechnologyType,
        MobileNodeLinkLayerIdentifier,
        LinkLocalAddress,
        Timestamp,
        MessageAuthentication,
        MessageIdentification,
        ExperimentalOption,
        RestartCounter,
        GreKey,
        BindingIdentifier,
        IPv4HomeAddressRequest,
        IPv4HomeAddressReply,
        IPv4DefaultRouterAddress,
        IPv4DhcpSupportMode,
        RedirectCapability,
        Redirect,
        LoadInformation,
        AlternateIPv4CareOfAddress,
        MobileNodeGroupIdentifier,
    )
}
