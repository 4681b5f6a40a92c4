"""Shared pieces of the codec: the option base class, padding, and field checks.

Owns: the rules every mobility option follows (TLV header, alignment xn+y, Pad1/PadN) and
the one place where a constructor's refusal becomes a DecodeError with an offset.
Must never: do I/O, read the clock, or raise anything but the errors of ``apmip.errors``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar, NoReturn, TypeVar

from apmip.errors import DecodeError, EncodeError

from .registry import MAX_OPTION_DATA

T = TypeVar("T", bound="Option")


class FieldError(EncodeError):
    """A constructor refused a field value; decoding turns it into a DecodeError."""

    def __init__(self, what: str, field: str, detail: str) -> None:
        self.what = what
        self.field = field
        self.detail = detail
        super().__init__(f"{what}: {field}: {detail}")


def fail(what: str, field: str, detail: str) -> NoReturn:
    raise FieldError(what, field, detail)


def check_uint(what: str, field: str, value: Any, bits: int) -> None:
    """Refuse anything that is not an int in 0 .. 2**bits - 1 (bools are refused too)."""
    if type(value) is int and value >= 0 and not value >> bits:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        fail(what, field, f"must be an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        fail(what, field, f"{value} is outside 0..{(1 << bits) - 1}")


def check_bools(what: str, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    """Refuse any of ``values`` that is not a bool."""
    if set(map(type, values)) <= _BOOL:
        return
    for name, value in zip(names, values, strict=True):
        if type(value) is not bool:
            fail(what, name, f"must be a bool, got {type(value).__name__}")


_BOOL = {bool}


def check_bytes(what: str, field: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, bytes):
        fail(what, field, f"must be bytes, got {type(value).__name__}")
    if not low <= len(value) <= high:
        fail(what, field, f"is {len(value)} bytes, allowed {low}..{high}")


def check_bool(what: str, field: str, value: Any) -> None:
    if not isinstance(value, bool):
        fail(what, field, f"must be a bool, got {type(value).__name__}")


def check_ipv6(what: str, field: str, value: object) -> None:
    if not isinstance(value, ipaddress.IPv6Address):
        fail(what, field, f"must be an IPv6Address, got {type(value).__name__}")


def check_ipv4(what: str, field: str, value: object) -> None:
    if not isinstance(value, ipaddress.IPv4Address):
        fail(what, field, f"must be an IPv4Address, got {type(value).__name__}")


def check_prefix4(what: str, value: object) -> None:
    check_uint(what, "prefix length", value, 6)
    if value > 32:  # type: ignore[operator]
        fail(what, "prefix length", f"{value} is more than 32")


class Option:
    """Base of every mobility option (RFC 6275 section 6.2).

    Subclasses are frozen dataclasses and set:

    * ``TYPE``: the Option Type octet;
    * ``ALIGN``: ``(x, y)``, the option's Type octet must sit at ``x*n + y`` octets from the
      start of the Mobility Header (RFC 6275 section 6.2.1 and the option's RFC);
    * ``LENGTH``: the exact Option Length, or ``None`` with ``MIN_LENGTH`` / ``MAX_LENGTH``;
    * ``encode_data()``: the Option Data octets; ``from_data(data)``: the inverse.
    """

    __slots__ = ()

    TYPE: ClassVar[int]
    NAME: ClassVar[str] = "option"
    ALIGN: ClassVar[tuple[int, int]] = (1, 0)
    LENGTH: ClassVar[int | None] = None
    MIN_LENGTH: ClassVar[int] = 0
    MAX_LENGTH: ClassVar[int] = MAX_OPTION_DATA
    #: whether the decoder may reuse an instance decoded from the same octets; False for
    #: options whose content is new in every message (timestamps, authenticators, evidence)
    REUSABLE: ClassVar[bool] = True

    @property
    def option_type(self) -> int:
        return self.TYPE

    def alignment(self) -> tuple[int, int]:
        """``(x, y)``: this option's Type octet goes at ``x*n + y`` octets."""
        return self.ALIGN

    def encode_data(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_data(cls: type[T], data: bytes) -> T:
        raise NotImplementedError

    def encode_tlv(self) -> bytes:
        """Type, Length and Data of this option, without alignment padding."""
        data = self.encode_data()
        if len(data) > MAX_OPTION_DATA:
            raise EncodeError(
                f"{self.NAME}: option data is {len(data)} bytes, at most {MAX_OPTION_DATA} fit "
                "in one mobility option"
            )
        return bytes((self.option_type, len(data))) + data

    @classmethod
    def decode_tlv(cls, buf: bytes, offset: int, length: int, what: str) -> Option:
        """Parse the option whose Type octet is at ``offset`` with Option Length ``length``."""
        exact = cls.LENGTH
        if exact is not None:
            if length != exact:
                raise DecodeError(
                    what, f"{cls.NAME} length", offset + 1, f"is {length}, must be {exact}"
                )
        elif length < cls.MIN_LENGTH:
            raise DecodeError(
                what,
                f"{cls.NAME} length",
                offset + 1,
                f"is {length}, shorter than the {cls.MIN_LENGTH} its type needs",
            )
        elif length > cls.MAX_LENGTH:
            raise DecodeError(
                what, f"{cls.NAME} length", offset + 1, f"is {length}, at most {cls.MAX_LENGTH}"
            )
        try:
            return cls.from_data(buf[offset + 2 : offset + 2 + length])
        except FieldError as exc:
            raise DecodeError(what, f"{cls.NAME} {exc.field}", offset + 2, exc.detail) from None


def padding(count: int) -> bytes:
    """``count`` octets of padding: one Pad1, or one PadN (RFC 6275 sections 6.2.2, 6.2.3)."""
    return _PADS[count]


_PADS = [b"", b"\x00"] + [bytes((1, n - 2)) + bytes(n - 2) for n in range(2, 8)]
