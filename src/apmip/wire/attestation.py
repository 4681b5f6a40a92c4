"""apmip's attestation options, carried in Vendor-Specific Mobility Options (RFC 5094).

Owns: the layout of the two sub-types (an attestation request carrying a nonce, and the
fragments of an evidence blob), splitting evidence into fragments and reassembling it, and the
Binding Acknowledgement status codes this project uses. docs/wire-format.md specifies the same
for a second implementer.
Must never: interpret the evidence (it is an opaque blob made by ``apmip.attest``), do I/O, or
raise anything but the errors of ``apmip.errors``.

Every option here is a Vendor-Specific option (type 19, alignment 4n+2) whose Vendor ID is
the configured enterprise number and whose Data starts with a version octet::

    request  (sub-type 1): version=1 | flags (1) | nonce (16..64)
    fragment (sub-type 2): version=1 | index (1) | count (1) | total length (2) | chunk (1..245)

Options of other vendors, and of this vendor with other sub-types, are not ours to judge:
they are skipped here and stay in the message.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from apmip.errors import DecodeError, EncodeError

from .base import Option, check_bytes, check_uint, fail
from .messages import Message
from .options import VendorSpecific

#: RFC 5612 documentation enterprise number; deployments configure their own
DEFAULT_VENDOR_ID = 32473
#: version octet of both sub-types
VERSION = 1
SUBTYPE_REQUEST = 1
SUBTYPE_EVIDENCE = 2
NONCE_MIN = 16
NONCE_MAX = 64
#: evidence bytes per fragment: 250 data bytes of a VSO less the 5-octet fragment header
FRAGMENT_CHUNK = 245
MAX_FRAGMENTS = 255
MAX_EVIDENCE = 0xFFFF

#: BA status "send evidence over the nonce in this PBA". Pending IANA assignment: taken from
#: the unassigned part of the Status Codes registry and overridable by configuration.
DEFAULT_STATUS_ATTESTATION_REQUIRED = 220
#: BA status "your evidence was refused". Pending IANA assignment; overridable by config.
DEFAULT_STATUS_ATTESTATION_FAILED = 221

_REQUEST = struct.Struct("!BB")
_FRAGMENT = struct.Struct("!BBBH")


@dataclass(frozen=True, slots=True)
class AttestationRequest:
    """ "Send me evidence over this nonce" (sub-type 1).

    ``flags`` is an octet whose bits the protocol engines assign; unassigned bits are sent
    as zero and ignored on receipt.
    """

    nonce: bytes
    flags: int = 0

    def __post_init__(self) -> None:
        check_bytes("attestation request", "nonce", self.nonce, NONCE_MIN, NONCE_MAX)
        check_uint("attestation request", "flags", self.flags, 8)

    def to_option(self, vendor_id: int = DEFAULT_VENDOR_ID) -> VendorSpecific:
        data = _REQUEST.pack(VERSION, self.flags) + self.nonce
        return VendorSpecific(vendor_id, SUBTYPE_REQUEST, data)


@dataclass(frozen=True, slots=True)
class EvidenceFragment:
    """One piece of an evidence blob (sub-type 2): ``index`` of ``count``, 0-based."""

    index: int
    count: int
    total: int
    chunk: bytes

    def __post_init__(self) -> None:
        what = "evidence fragment"
        check_uint(what, "index", self.index, 8)
        check_uint(what, "count", self.count, 8)
        check_uint(what, "total length", self.total, 16)
        check_bytes(what, "chunk", self.chunk, 1, FRAGMENT_CHUNK)
        if self.count == 0:
            fail(what, "count", "is 0, at least 1 fragment is needed")
        if self.index >= self.count:
            fail(what, "index", f"{self.index} is not below the count {self.count}")

    def to_option(self, vendor_id: int = DEFAULT_VENDOR_ID) -> VendorSpecific:
        head = _FRAGMENT.pack(VERSION, self.index, self.count, self.total)
        return VendorSpecific(vendor_id, SUBTYPE_EVIDENCE, head + self.chunk)


@dataclass(frozen=True, slots=True)
class AttestationOptions:
    """What a message carries for attestation: a request, evidence, both, or neither."""

    request: AttestationRequest | None = None
    evidence: bytes | None = None


def split_evidence(evidence: bytes) -> tuple[EvidenceFragment, ...]:
    """``evidence`` cut into fragments of FRAGMENT_CHUNK bytes (the last may be shorter)."""
    if not isinstance(evidence, bytes):
        raise EncodeError(f"evidence must be bytes, got {type(evidence).__name__}")
    size = len(evidence)
    if not 1 <= size <= MAX_EVIDENCE:
        raise EncodeError(f"evidence is {size} bytes, must be 1..{MAX_EVIDENCE}")
    count = -(-size // FRAGMENT_CHUNK)
    if count > MAX_FRAGMENTS:
        raise EncodeError(
            f"evidence of {size} bytes needs {count} fragments, at most {MAX_FRAGMENTS} exist"
        )
    return tuple(
        EvidenceFragment(i, count, size, evidence[i * FRAGMENT_CHUNK : (i + 1) * FRAGMENT_CHUNK])
        for i in range(count)
    )


def attestation_options(
    request: AttestationRequest | None,
    evidence: bytes | None,
    vendor_id: int = DEFAULT_VENDOR_ID,
) -> tuple[VendorSpecific, ...]:
    """The Vendor-Specific options carrying ``request`` and ``evidence``, request first.

    Whether they fit in one message (2048 bytes) is checked when the message is encoded.
    """
    options: list[VendorSpecific] = []
    if request is not None:
        options.append(request.to_option(vendor_id))
    if evidence is not None:
        options.extend(fragment.to_option(vendor_id) for fragment in split_evidence(evidence))
    return tuple(options)


def parse_option(
    option: Option, vendor_id: int = DEFAULT_VENDOR_ID, position: int = 0
) -> AttestationRequest | EvidenceFragment | None:
    """The attestation content of one option, or None when it is not one of ours.

    ``position`` (the option's index in its message) only serves error messages.
    """
    if not isinstance(option, VendorSpecific) or option.vendor_id != vendor_id:
        return None
    if option.subtype not in (SUBTYPE_REQUEST, SUBTYPE_EVIDENCE):
        return None
    data = option.data
    kind = "attestation request" if option.subtype == SUBTYPE_REQUEST else "evidence fragment"
    what = f"{kind} (option {position})"
    if not data:
        raise DecodeError(what, "version", 0, "the option has no data after its sub-type")
    if data[0] != VERSION:
        raise DecodeError(what, "version", 0, f"is {data[0]}, only {VERSION} is understood")
    if option.subtype == SUBTYPE_REQUEST:
        if len(data) < _REQUEST.size + NONCE_MIN:
            raise DecodeError(
                what, "nonce", 2, f"{len(data) - 2} bytes, at least {NONCE_MIN} needed"
            )
        if len(data) > _REQUEST.size + NONCE_MAX:
            raise DecodeError(what, "nonce", 2, f"{len(data) - 2} bytes, at most {NONCE_MAX}")
        return AttestationRequest(data[2:], data[1])
    if len(data) <= _FRAGMENT.size:
        raise DecodeError(
            what, "chunk", len(data), f"{len(data)} bytes of data, a fragment needs at least 6"
        )
    _, index, count, total = _FRAGMENT.unpack_from(data)
    if count == 0:
        raise DecodeError(what, "count", 2, "is 0, at least 1 fragment is needed")
    if index >= count:
        raise DecodeError(what, "index", 1, f"{index} is not below the count {count}")
    return EvidenceFragment(index, count, total, data[_FRAGMENT.size :])


def reassemble(fragments: Iterable[EvidenceFragment]) -> bytes:
    """The evidence blob from its fragments, which must be complete and in order.

    Refused with DecodeError: a count or total length that differs between fragments, a
    duplicate index, a missing index, fragments out of order, or chunks whose sizes do not add
    up to the total length (a truncated or overlong fragment).
    """
    pieces = list(fragments)
    if not pieces:
        raise DecodeError("evidence", "fragments", 0, "no fragment to reassemble")
    first = pieces[0]
    for position, piece in enumerate(pieces):
        if piece.count != first.count:
            raise DecodeError(
                "evidence",
                "count",
                position,
                f"fragment {piece.index} says {piece.count} fragments, "
                f"fragment {first.index} said {first.count}",
            )
        if piece.total != first.total:
            raise DecodeError(
                "evidence",
                "total length",
                position,
                f"fragment {piece.index} says {piece.total} bytes, "
                f"fragment {first.index} said {first.total}",
            )
    seen: set[int] = set()
    for position, piece in enumerate(pieces):
        if piece.index in seen:
            raise DecodeError(
                "evidence", "index", position, f"fragment {piece.index} appears twice"
            )
        seen.add(piece.index)
    missing = sorted(set(range(first.count)) - seen)
    if missing:
        raise DecodeError(
            "evidence",
            "index",
            len(pieces),
            f"fragment(s) {', '.join(map(str, missing))} of {first.count} missing",
        )
    for position, piece in enumerate(pieces):
        if piece.index != position:
            raise DecodeError(
                "evidence",
                "index",
                position,
                f"fragment {piece.index} out of order: fragment {position} was expected here",
            )
    blob = b"".join(piece.chunk for piece in pieces)
    if len(blob) != first.total:
        state = "truncated" if len(blob) < first.total else "longer than declared"
        raise DecodeError(
            "evidence",
            "total length",
            len(pieces) - 1,
            f"{state}: the fragments hold {len(blob)} bytes, {first.total} were declared",
        )
    return blob


def read_attestation(
    message_or_options: Message | Iterable[Option], vendor_id: int = DEFAULT_VENDOR_ID
) -> AttestationOptions:
    """The attestation request and reassembled evidence of a message (or its options)."""
    if isinstance(message_or_options, Message):
        options: Iterable[Option] = message_or_options.options
    else:
        options = message_or_options
    request: AttestationRequest | None = None
    fragments: list[EvidenceFragment] = []
    for position, option in enumerate(options):
        item = parse_option(option, vendor_id, position)
        if isinstance(item, AttestationRequest):
            if request is not None:
                raise DecodeError(
                    f"attestation request (option {position})",
                    "sub-type",
                    0,
                    "a second attestation request in one message",
                )
            request = item
        elif item is not None:
            fragments.append(item)
    evidence = reassemble(fragments) if fragments else None
    return AttestationOptions(request, evidence)
