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


class PeerLog:
    """Warnings about what peers sent, at most ``burst`` per source and kind a minute.

    A flood of bad packets must not turn into a flood of log lines: past the burst the lines
    go to debug level, and the first suppressed one says so. Time comes from the caller.
    """

    WINDOW = 60.0
    MAX_KEYS = 4096

    def __init__(self, logger: logging.Logger, burst: int = 5) -> None:
        self.logger = logger
        self.burst = burst
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def warning(self, now: float, source: str, kind: str, message: str, *args: object) -> None:
        start, count = self._seen.get((source, kind), (now, 0))
        if now - start >= self.WINDOW:
            start, count = now, 0
        if len(self._seen) >= self.MAX_KEYS and (source, kind) not in self._seen:
            self._seen.clear()
        self._seen[(source, kind)] = (start, count + 1)
        if count < self.burst:
            self.logger.warning(message, *args)
        elif count == self.burst:
            self.logger.warning(
                "more %s from %s in this minute are logged at debug level", kind, source
            )
        else:
            self.logger.debug(message, *args)


def decode_or_drop(
    data: bytes,
    source: str,
    now: float,
    out: Output,
    counters: Counter[str],
    checksum_with: tuple[IPv6Address, IPv6Address] | None,
    peer_log: PeerLog | None = None,
) -> Message | None:
    """Decode one message; a malformed one is counted, logged with its source and dropped."""
    try:
        if checksum_with is None:
            return mh.decode(data)
        return mh.decode(data, src=checksum_with[0], dst=checksum_with[1])
    except DecodeError as exc:
        counters["rx_malformed"] += 1
        text = "dropped malformed message from %s: %s"
        if peer_log is None:
            log.warning(text, source, exc)
        else:
            peer_log.warning(now, source, "malformed messages", text, source, exc)
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
