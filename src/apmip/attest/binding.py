"""Binding evidence to one challenge and one signalling exchange.

A quote's extraData (TPM2_Quote qualifyingData, TPM 2.0 Part 3 section 18.4) is the only
caller-chosen input the TPM signs. apmip puts there a SHA-256 over a domain-separation label,
the verifier's nonce (length-prefixed) and a canonical encoding of the signalling context: who
produced the evidence, the sender and receiver addresses, the mobile node identifier and the
sequence number of the Proxy Binding Update (RFC 5213 section 8.1). A quote made for one nonce,
one peer or one binding therefore does not verify for any other.

This module does no I/O and holds no state.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import struct
from dataclasses import dataclass

from apmip.errors import AttestationError

# the label keeps these digests apart from any other SHA-256 the project computes
LABEL = b"apmip attestation qualifying data v1\x00"
ROLES = ("mag", "lma")
MIN_NONCE = 8
MAX_NONCE = 64


@functools.lru_cache(maxsize=1024)  # the same few peer addresses come back in every message
def _canonical_address(text: str) -> str:
    """IP addresses in their compressed form, so "2001:DB8::0001" and "2001:db8::1" agree."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return text.strip()


@dataclass(frozen=True)
class SignallingContext:
    """The exchange a piece of evidence belongs to.

    ``role`` is who produced the evidence ("mag" in a PBU, "lma" in a PBA); ``sender`` the
    producer's address and ``receiver`` the verifier's, as text; ``mn_id`` the Mobile Node
    Identifier option's identifier bytes; ``sequence`` the PBU sequence number (16 bits).
    """

    role: str
    sender: str
    receiver: str
    mn_id: bytes
    sequence: int
    # the producer's X25519 key share for the session key (apmip.core.session), if it sent one
    key_share: bytes = b""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AttestationError(f"signalling context: role {self.role!r} not in {ROLES}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise AttestationError(
                f"signalling context: sequence {self.sequence} outside 0..65535"
            )
        for name, value in (("sender", self.sender), ("receiver", self.receiver)):
            if not value or len(value.encode()) > 255:
                raise AttestationError(f"signalling context: {name} must be 1..255 bytes")
        if len(self.mn_id) > 255:
            raise AttestationError(f"signalling context: mn_id {len(self.mn_id)} bytes > 255")
        if len(self.key_share) > 255:
            raise AttestationError(
                f"signalling context: key_share {len(self.key_share)} bytes > 255"
            )

    def encode(self) -> bytes:
        """Canonical bytes: each field length-prefixed, addresses normalised, sequence 16-bit."""
        parts = [
            self.role.encode(),
            _canonical_address(self.sender).encode(),
            _canonical_address(self.receiver).encode(),
            self.mn_id,
        ]
        out = b"".join(struct.pack(">B", len(p)) + p for p in parts)
        out += struct.pack(">H", self.sequence)
        if self.key_share:
            out += struct.pack(">B", len(self.key_share)) + self.key_share
        return out


def qualifying_data(nonce: bytes, context: SignallingContext) -> bytes:
    """The 32 bytes a quote must carry as extraData for this nonce and context."""
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise AttestationError(f"nonce of {len(nonce)} bytes outside {MIN_NONCE}..{MAX_NONCE}")
    h = hashlib.sha256(LABEL)
    h.update(struct.pack(">H", len(nonce)) + nonce)
    h.update(context.encode())
    return h.digest()


# Evidence extra type carrying the (nonce, context) the producer bound its quote to. It is
# not trusted as such: it only counts when its qualifying data is the quote's signed
# extraData, and then it lets a refusal say whether an old nonce was replayed or evidence was
# relayed from another exchange, and which field differs.
EXTRA_CLAIM = 3


def encode_claim(nonce: bytes, context: SignallingContext) -> bytes:
    return struct.pack(">B", len(nonce)) + nonce + context.encode()


def decode_claim(data: bytes) -> tuple[bytes, SignallingContext] | None:
    """The claimed nonce and context, or None when the bytes are not a well-formed claim."""
    fields: list[bytes] = []
    at = 0
    for _ in range(5):  # nonce, role, sender, receiver, mn_id
        if at >= len(data) or at + 1 + data[at] > len(data):
            return None
        fields.append(data[at + 1 : at + 1 + data[at]])
        at += 1 + data[at]
    if len(data) < at + 2:
        return None
    key_share = b""
    if len(data) > at + 2:
        share_at = at + 2
        if len(data) != share_at + 1 + data[share_at]:
            return None
        key_share = data[share_at + 1 :]
    nonce, role, sender, receiver, mn_id = fields
    try:
        context = SignallingContext(
            role.decode(),
            sender.decode(),
            receiver.decode(),
            mn_id,
            struct.unpack_from(">H", data, at)[0],
            key_share,
        )
    except (AttestationError, UnicodeDecodeError):
        return None
    return nonce, context


def context_differences(expected: SignallingContext, found: SignallingContext) -> list[str]:
    """Which fields of ``found`` differ from ``expected``, as "field X, not Y" phrases."""
    out = []
    for name in ("role", "sender", "receiver", "mn_id", "sequence", "key_share"):
        want, got = getattr(expected, name), getattr(found, name)
        if name in ("sender", "receiver"):
            want, got = _canonical_address(want), _canonical_address(got)
        if want != got:
            out.append(f"{name} {got!r}, not {want!r}")
    return out
