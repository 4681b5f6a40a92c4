"""Session keys between a MAG and an LMA that appraised each other, and the MAC they put on
every later message.

Why: a trust session lets a peer skip the TPM for minutes. Without a key, anything sending
from a trusted peer's address (another process on it, the same daemon restarted with a changed
configuration, a spoofer on the path) would ride on that trust. So each side's evidence is
bound to an X25519 key share (it is part of the signalling context the quote signs); after both
appraisals succeed each side derives the same key with HKDF-SHA-256 (RFC 5869), and every later
PBU and PBA carries HMAC-SHA-256 (RFC 2104), truncated to 16 octets, over the message with its
checksum and MAC zeroed. A message without a valid MAC gets no benefit of the session: the LMA
challenges it, the MAG drops it. A daemon that restarts has lost its key and must attest again.

Never: reads the clock or the random source (the private key's bytes come from the injected
nonce source).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from apmip.wire.session import MAC_SIZE, mac_span

LABEL = b"apmip session key v1\x00"
TO_LMA = b"mag->lma"
TO_MAG = b"lma->mag"


def new_share(nonces: Callable[[int], bytes]) -> tuple[X25519PrivateKey, bytes]:
    """A fresh key pair; the private key's 32 bytes come from the injected random source."""
    private = X25519PrivateKey.from_private_bytes(nonces(32))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, public


def derive(
    private: X25519PrivateKey,
    peer_share: bytes,
    mag_share: bytes,
    lma_share: bytes,
    mag: str,
    lma: str,
) -> bytes:
    """The 32-byte session key both sides compute from the two shares."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_share))
    info = LABEL + mag.encode() + b"\x00" + lma.encode()
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=mag_share + lma_share, info=info)
    return kdf.derive(shared)


def _digest(data: bytes, span: tuple[int, int], key: bytes, direction: bytes) -> bytes:
    start, end = span
    blank = bytearray(data)
    blank[4:6] = b"\x00\x00"  # the checksum is computed over the sealed message afterwards
    blank[start:end] = bytes(end - start)
    return hmac.new(key, direction + bytes(blank), hashlib.sha256).digest()[:MAC_SIZE]


def seal(data: bytes, key: bytes, direction: bytes, vendor_id: int) -> bytes:
    """Fill in the MAC of a message encoded with :func:`apmip.wire.session.mac_placeholder`."""
    span = mac_span(data, vendor_id)
    if span is None:
        raise ValueError("the message has no single MAC option to fill in")
    sealed = bytearray(data)
    sealed[span[0] : span[1]] = _digest(data, span, key, direction)
    return bytes(sealed)


def verify(data: bytes, key: bytes, direction: bytes, vendor_id: int) -> bool:
    """Whether the message carries one MAC option and it is right for ``key`` (constant time)."""
    span = mac_span(data, vendor_id)
    if span is None or not key:
        return False
    return hmac.compare_digest(data[span[0] : span[1]], _digest(data, span, key, direction))
