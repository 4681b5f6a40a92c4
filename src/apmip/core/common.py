"""Small pieces both engines share: message decoding with drop accounting, option access."""

from __future__ import annotations

import logging
from collections import Counter
from ipaddress import IPv6Address, IPv6Network

from apmip.errors import DecodeError
from apmip.wire import mh
from apmip.wire.messages import Message

from .events import Output

log = logging.getLogger(__name__)

# RFC 5213 section 8.3: a Home Network Prefix option of all zeros asks the LMA to allocate.
ALL_ZERO_PREFIX = IPv6Network("::/0")

# RFC 6275 section 6.1.7: the Lifetime field counts units of 4 seconds.
LIFETIME_UNIT = 4
MAX_LIFETIME_UNITS = 0xFFFF


def lifetime_units(seconds: float) -> int:
    """Seconds rounded down to the 4-second wire unit, clamped to the 16-bit field."""
    return max(0, min(MAX_LIFETIME_UNITS, int(seconds) // LIFETIME_UNIT))


def mn_label(mn_id: bytes) -> str:
    """A printable form of a mobile node identifier (RFC 4283 NAI, usually text)."""
    try:
        text = mn_id.decode("utf-8")
    except UnicodeDecodeError:
        return mn_id.hex()
    return text if text.isprintable() else mn_id.hex()


def decode_or_drop(
    data: bytes,
    source: str,
    now: float,
    out: Output,
    counters: Counter[str],
    checksum_with: tuple[IPv6Address, IPv6Address] | None,
) -> Message | None:
    """Decode one message; a malformed one is counted, logged with its source and dropped."""
    try:
        if checksum_with is None:
            return mh.decode(data)
        return mh.decode(data, src=checksum_with[0], dst=checksum_with[1])
    except DecodeError as exc:
        counters["rx_malformed"] += 1
        log.warning("dropped malformed message from %s: %s", source, exc)
        out.emit("dropped", now, peer=source, reason="malformed", error=str(exc))
        return None


def seq_newer(candidate: int, last: int) -> bool:
    """RFC 6275 section 9.5.1: sequence numbers compare modulo 2**16 within half the space."""
    return candidate != last and ((candidate - last) & 0xFFFF) < 0x8000


def as_ipv6(address: str) -> IPv6Address:
    """An IPv6 address, or an IPv4 one mapped (RFC 4291 section 2.5.5.2) for the checksum."""
    try:
        return IPv6Address(address)
    except ValueError:
        return IPv6Address(f"::ffff:{address}")


def with_checksum(data: bytes, src: IPv6Address, dst: IPv6Address) -> bytes:
    """``data`` with its Mobility Header checksum filled in (RFC 6275 section 6.1.1), for a
    message changed after encoding (a MAC sealed into it)."""
    return data[:4] + mh.checksum(src, dst, data).to_bytes(2, "big") + data[6:]
