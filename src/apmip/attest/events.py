"""Measured events: what was extended into which PCR, and how a verifier replays it.

One rule serves the simulated boot chain and the runtime measurements alike: an event names a
PCR, a kind (``firmware``, ``kernel``, ``config``, ``executable`` ...), a name (a component or
a file path) and the SHA-256 of the measured content. What is extended into a PCR bank is that
bank's hash over the event's canonical encoding, so the path and kind are bound into the PCR
along with the content, and any bank (sha1, sha256, ...) can be replayed from the list alone.

Replay follows TPM2_PCR_Extend (TPM 2.0 Part 1, section 17.2): new = H(old || digest),
starting from all zeros for PCRs 0-15 after TPM Reset.

Evidence carries a compact *hint* per event (PCR, 4-byte tag of kind and name, first 4 bytes of
the content digest) instead of the full list: the verifier matches hints against the events in
its reference values, names the first event that differs, and replays the reference events to
the quoted PCR value. The replay is what decides; hints only serve the diagnosis.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from apmip.errors import EvidenceError

# boot kinds follow the PC Client PCR usage (TCG PC Client Platform Firmware Profile, 3.3.4)
BOOT_KINDS = (
    "firmware",
    "platform-config",
    "option-rom",
    "bootloader",
    "boot-config",
    "secure-boot",
    "kernel",
    "initrd",
    "kernel-cmdline",
    "os",
)
RUNTIME_KINDS = ("config", "executable", "library", "file")
KINDS = BOOT_KINDS + RUNTIME_KINDS

# AR4SI trust-vector aspect each kind touches when it differs from its reference
KIND_ASPECT = {
    "firmware": "hardware",
    "option-rom": "hardware",
    "platform-config": "configuration",
    "boot-config": "configuration",
    "secure-boot": "configuration",
    "kernel-cmdline": "configuration",
    "bootloader": "executables",
    "kernel": "executables",
    "initrd": "executables",
    "os": "executables",
    "config": "configuration",
    "executable": "executables",
    "library": "executables",
    "file": "file-system",
}

EVENT_LABEL = b"apmip measured event v1\x00"
HINT_SIZE = 9
_HINT = struct.Struct(">B4s4s")
MAX_HINTS = 255


@dataclass(frozen=True)
class Event:
    """One measurement: ``sha256`` is the digest of the measured content itself."""

    pcr: int
    kind: str
    name: str
    sha256: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.pcr <= 23:
            raise EvidenceError(f"event {self.name!r}: PCR {self.pcr} outside 0..23")
        if self.kind not in KINDS:
            raise EvidenceError(f"event {self.name!r}: kind {self.kind!r} unknown")
        if len(self.sha256) != 32:
            raise EvidenceError(f"event {self.name!r}: digest of {len(self.sha256)} bytes, not 32")

    def encode(self) -> bytes:
        """Canonical event data: label, kind and name length-prefixed, content digest."""
        kind = self.kind.encode()
        name = self.name.encode()
        return (
            b"".join(
                [
                    EVENT_LABEL,
                    struct.pack(">B", len(kind)),
                    kind,
                    struct.pack(">H", len(name)),
                    name,
                ]
            )
            + self.sha256
        )

    def digest(self, bank: str) -> bytes:
        """What is extended into ``bank`` for this event (computed once per bank)."""
        cache = self._digests
        if bank not in cache:
            cache[bank] = hashlib.new(bank, self.encode()).digest()
        return cache[bank]

    @cached_property
    def _digests(self) -> dict[str, bytes]:
        return {}

    @cached_property
    def tag(self) -> bytes:
        return event_tag(self.kind, self.name)

    def hint(self) -> EventHint:
        return EventHint(self.pcr, self.tag, self.sha256[:4])

    @property
    def aspect(self) -> str:
        return KIND_ASPECT[self.kind]


def event_tag(kind: str, name: str) -> bytes:
    """Four bytes identifying an event by kind and name (SHA-256 prefix)."""
    return hashlib.sha256(kind.encode() + b"\x00" + name.encode()).digest()[:4]


def extend(value: bytes, bank: str, digest: bytes) -> bytes:
    """TPM2_PCR_Extend on one bank."""
    return hashlib.new(bank, value + digest).digest()


def replay(events: Iterable[Event], bank: str, pcr: int) -> bytes:
    """The value of ``pcr`` in ``bank`` after extending ``events`` (those for that PCR)."""
    value = bytes(hashlib.new(bank).digest_size)
    for event in events:
        if event.pcr == pcr:
            value = extend(value, bank, event.digest(bank))
    return value


class EventHint(NamedTuple):
    """Compact stand-in for an event inside evidence: PCR, tag, content digest prefix.

    A named tuple rather than a dataclass because evidence carries dozens of them and the
    verifier decodes them on every appraisal; :func:`encode_hints` and :func:`decode_hints`
    enforce the sizes and the PCR range.
    """

    pcr: int
    tag: bytes
    prefix: bytes


def encode_hints(hints: Iterable[EventHint]) -> bytes:
    items = list(hints)
    if len(items) > MAX_HINTS:
        raise EvidenceError(f"event hints: {len(items)} exceed the maximum {MAX_HINTS}")
    for h in items:
        if not 0 <= h.pcr <= 23 or len(h.tag) != 4 or len(h.prefix) != 4:
            raise EvidenceError(
                f"event hint: PCR {h.pcr}, tag {len(h.tag)} bytes, "
                f"prefix {len(h.prefix)} bytes (expected 0..23, 4, 4)"
            )
    return b"".join(_HINT.pack(*h) for h in items)


@functools.lru_cache(maxsize=512)  # a peer sends the same list in every message
def decode_hints(data: bytes, offset: int = 0) -> tuple[EventHint, ...]:
    """Decode hints; the result is immutable, so repeated lists share one decoded tuple."""
    if len(data) % HINT_SIZE:
        raise EvidenceError(
            f"event hints at offset {offset}: {len(data)} bytes is not a multiple of {HINT_SIZE}"
        )
    hints = tuple(map(EventHint._make, _HINT.iter_unpack(data)))
    for i, hint in enumerate(hints):
        if hint.pcr > 23:
            raise EvidenceError(
                f"event hints: PCR {hint.pcr} at offset {offset + i * HINT_SIZE} outside 0..23"
            )
    return hints
