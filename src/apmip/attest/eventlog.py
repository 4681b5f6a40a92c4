"""TCG PC Client crypto-agile event logs: written for apmip's events, read from any platform.

The format is the one UEFI firmware hands to the OS (Linux exposes it as
``/sys/kernel/security/tpm0/binary_bios_measurements``), defined in the TCG PC Client Platform
Firmware Profile, section 10 "Event Logging". Unlike TPM structures it is little-endian:

* the first record is a TCG_PCClientPCREvent (SHA-1 format) of type EV_NO_ACTION whose data
  is the TCG_EfiSpecIdEvent ``"Spec ID Event03"``: platform class, spec version, the size of
  UINTN, and the list of (algorithm id, digest size) the log carries;
* every later record is a TCG_PCR_EVENT2: pcrIndex u32, eventType u32, TPML_DIGEST_VALUES
  (count u32, then per digest an algorithm id u16 and that many bytes), eventSize u32, event.

apmip writes the canonical event encoding of :mod:`apmip.attest.events` as the event data, so
its own logs can be turned back into named events. Records of other software (real firmware,
shim, GRUB) are kept with their digests, a kind guessed from the event type and a name made of
the event type and its printable data, so a mismatch still names the record.

Parsing is strict and bounded: at most :data:`MAX_EVENTS` records of at most
:data:`MAX_EVENT_DATA` bytes, digests of the sizes the header declares, no trailing bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apmip.attest import tpm2
from apmip.attest.events import EVENT_LABEL, Event
from apmip.errors import EvidenceError

MAX_EVENTS = 20_000
MAX_EVENT_DATA = 1 << 20
MAX_ALGORITHMS = 8
SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
STARTUP_LOCALITY = b"StartupLocality\x00"

# event types (TCG PC Client PFP, section 10.4.1)
EV_POST_CODE = 0x00000001
EV_NO_ACTION = 0x00000003
EV_SEPARATOR = 0x00000004
EV_EVENT_TAG = 0x00000006
EV_S_CRTM_VERSION = 0x00000008
EV_PLATFORM_CONFIG_FLAGS = 0x0000000A
EV_IPL = 0x0000000D
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_GPT_EVENT = 0x80000006
EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
EV_EFI_ACTION = 0x80000007

# how apmip's event kinds are logged
KIND_EVENT_TYPE: Mapping[str, int] = {
    "firmware": EV_EFI_PLATFORM_FIRMWARE_BLOB,
    "platform-config": EV_PLATFORM_CONFIG_FLAGS,
    "option-rom": EV_POST_CODE,
    "bootloader": EV_EFI_BOOT_SERVICES_APPLICATION,
    "boot-config": EV_EFI_GPT_EVENT,
    "secure-boot": EV_EFI_VARIABLE_DRIVER_CONFIG,
    "kernel": EV_IPL,
    "initrd": EV_IPL,
    "kernel-cmdline": EV_IPL,
    "os": EV_EVENT_TAG,
    "config": EV_EVENT_TAG,
    "executable": EV_EVENT_TAG,
    "library": EV_EVENT_TAG,
    "file": EV_EVENT_TAG,
}
# the kind a foreign record is reported as, by event type (PCR decides the rest)
TYPE_KIND: Mapping[int, str] = {
    EV_POST_CODE: "firmware",
    EV_S_CRTM_VERSION: "firmware",
    EV_EFI_PLATFORM_FIRMWARE_BLOB: "firmware",
    EV_PLATFORM_CONFIG_FLAGS: "platform-config",
    EV_EFI_GPT_EVENT: "boot-config",
    EV_EFI_VARIABLE_DRIVER_CONFIG: "secure-boot",
    EV_EFI_BOOT_SERVICES_APPLICATION: "bootloader",
    EV_IPL: "kernel",
}
TYPE_NAMES: Mapping[int, str] = {
    EV_POST_CODE: "EV_POST_CODE",
    EV_NO_ACTION: "EV_NO_ACTION",
    EV_SEPARATOR: "EV_SEPARATOR",
    EV_EVENT_TAG: "EV_EVENT_TAG",
    EV_S_CRTM_VERSION: "EV_S_CRTM_VERSION",
    EV_PLATFORM_CONFIG_FLAGS: "EV_PLATFORM_CONFIG_FLAGS",
    EV_IPL: "EV_IPL",
    EV_EFI_VARIABLE_DRIVER_CONFIG: "EV_EFI_VARIABLE_DRIVER_CONFIG",
    EV_EFI_BOOT_SERVICES_APPLICATION: "EV_EFI_BOOT_SERVICES_APPLICATION",
    EV_EFI_GPT_EVENT: "EV_EFI_GPT_EVENT",
    EV_EFI_PLATFORM_FIRMWARE_BLOB: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    EV_EFI_ACTION: "EV_EFI_ACTION",
}


@dataclass(frozen=True)
class LogRecord:
    """One TCG_PCR_EVENT2: the digests per bank name and the raw event data."""

    pcr: int
    event_type: int
    digests: tuple[tuple[str, bytes], ...]
    data: bytes

    def digest(self, bank: str) -> bytes | None:
        return dict(self.digests).get(bank)

    def event(self, position: int) -> Event | None:
        """The named event this record stands for, or None for records extending nothing.
        ``position`` counts the records of the same PCR and type (:meth:`EventLog.positions`)."""
        if self.event_type in (EV_NO_ACTION,) or self.pcr > 23:
            return None
        if self.data.startswith(EVENT_LABEL):
            own = _decode_own(self.pcr, self.data)
            if own is not None:
                return own
        sha256 = self.digest("sha256")
        if sha256 is None:
            return None
        kind = TYPE_KIND.get(self.event_type, "os" if self.pcr < 16 else "file")
        return Event(self.pcr, kind, self.label(position), sha256)

    def label(self, position: int) -> str:
        kind = TYPE_NAMES.get(self.event_type, f"type 0x{self.event_type:08x}")
        text = self.data.rstrip(b"\x00")
        if text and len(text) <= 120 and all(32 <= c < 127 for c in text):
            return f"{kind} #{position} {text.decode()!r}"
        return f"{kind} #{position}"


def _decode_own(pcr: int, data: bytes) -> Event | None:
    """Undo Event.encode(); None when the data does not have that exact shape."""
    at = len(EVENT_LABEL)
    try:
        kind_len = data[at]
        kind = data[at + 1 : at + 1 + kind_len].decode()
        at += 1 + kind_len
        (name_len,) = struct.unpack_from(">H", data, at)
        name = data[at + 2 : at + 2 + name_len].decode()
        digest = data[at + 2 + name_len :]
        event = Event(pcr, kind, name, digest)
    except (IndexError, UnicodeDecodeError, struct.error, EvidenceError):
        return None
    return event if event.encode() == data else None


@dataclass(frozen=True)
class EventLog:
    """A parsed crypto-agile log: the banks it declares and its records in order."""

    banks: tuple[str, ...]
    records: tuple[LogRecord, ...]

    def replay(self, bank: str, pcr: int) -> bytes:
        """The PCR value the records produce. PCRs start at all zeros, except PCR 0 when the
        log holds a StartupLocality event: then its last byte is the locality TPM2_Startup ran
        at (TCG PC Client PFP 10.4.5.3; an H-CRTM starts from locality 3 or 4)."""
        size = hashlib.new(bank).digest_size
        value = bytes(size)
        if pcr == 0:
            value = bytes(size - 1) + bytes([self.startup_locality()])
        for record in self.records:
            if record.pcr == pcr and record.event_type != EV_NO_ACTION:
                digest = record.digest(bank)
                if digest is None:
                    raise EvidenceError(f"event log: a PCR {pcr} record has no {bank} digest")
                value = hashlib.new(bank, value + digest).digest()
        return value

    def startup_locality(self) -> int:
        for record in self.records:
            if (
                record.pcr == 0
                and record.event_type == EV_NO_ACTION
                and record.data.startswith(STARTUP_LOCALITY)
                and len(record.data) == len(STARTUP_LOCALITY) + 1
            ):
                return record.data[-1]
        return 0

    def events(self) -> tuple[Event, ...]:
        """The named events of the log, in order (see :meth:`positions` for foreign names)."""
        out = []
        for record, position in zip(self.records, self.positions(), strict=True):
            event = record.event(position)
            if event is not None:
                out.append(event)
        return tuple(out)

    def positions(self) -> list[int]:
        """Each record's position among the records of its PCR and event type, from 1.

        Foreign records are named by type and this position, so an inserted record shifts
        only the names of later records of the same type in the same PCR, and the first name
        that no longer matches the reference is where the log changed."""
        seen: dict[tuple[int, int], int] = {}
        out = []
        for record in self.records:
            key = (record.pcr, record.event_type)
            seen[key] = seen.get(key, 0) + 1
            out.append(seen[key])
        return out

    def inconsistent(self) -> str | None:
        """For apmip's own records, check each digest is the bank hash of the event data."""
        for index, record in enumerate(self.records, start=1):
            if not record.data.startswith(EVENT_LABEL):
                continue
            for bank, digest in record.digests:
                if hashlib.new(bank, record.data).digest() != digest:
                    return f"record #{index} (PCR {record.pcr}): {bank} digest is not of its data"
        return None


# -- writing --


def _spec_id_event(banks: tuple[str, ...]) -> bytes:
    body = SPEC_ID_SIGNATURE + struct.pack("<IBBBB", 0, 0, 2, 0, 2)  # class 0, v2.0, UINT64
    body += struct.pack("<I", len(banks))
    for bank in banks:
        alg = tpm2.hash_id(bank)
        body += struct.pack("<HH", alg, tpm2.DIGEST_SIZES[alg])
    body += b"\x00"  # no vendor info
    return struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(body)) + body


def encode_log(events: Iterable[Event], banks: tuple[str, ...] = ("sha1", "sha256")) -> bytes:
    """A crypto-agile log of ``events`` with a digest per bank, as the attester extended them."""
    out = [_spec_id_event(banks)]
    for event in events:
        data = event.encode()
        record = struct.pack("<III", event.pcr, KIND_EVENT_TYPE[event.kind], len(banks))
        for bank in banks:
            record += struct.pack("<H", tpm2.hash_id(bank)) + event.digest(bank)
        out.append(record + struct.pack("<I", len(data)) + data)
    return b"".join(out)


# -- reading --


class _LeReader(tpm2.Reader):
    """The little-endian cursor the event log needs."""

    def le32(self, field: str) -> int:
        return int(struct.unpack("<I", self.take(4, field))[0])

    def le16(self, field: str) -> int:
        return int(struct.unpack("<H", self.take(2, field))[0])


def parse_log(data: bytes) -> EventLog:
    """Strictly parse a crypto-agile TCG event log."""
    r = _LeReader(data, "event log")
    pcr = r.le32("header.pcrIndex")
    kind = r.le32("header.eventType")
    if (pcr, kind) != (0, EV_NO_ACTION):
        raise r.fail("header", f"PCR {pcr} type 0x{kind:08x} is not an EV_NO_ACTION header", 0)
    r.take(20, "header.digest")
    size = r.le32("header.eventSize")
    if size > 4096:
        raise r.fail("header.eventSize", f"{size} is larger than a Spec ID event can be", 28)
    spec = _LeReader(r.take(size, "header.event"), "Spec ID event")
    if spec.take(16, "signature") != SPEC_ID_SIGNATURE:
        raise r.fail("header.event", "not a 'Spec ID Event03' (not a crypto-agile log)", 32)
    spec.take(8, "platformClass/version/uintnSize")
    count = spec.le32("numberOfAlgorithms")
    if not 0 < count <= MAX_ALGORITHMS:
        raise spec.fail("numberOfAlgorithms", f"{count} outside 1..{MAX_ALGORITHMS}")
    sizes: dict[int, int] = {}
    for i in range(count):
        alg = spec.le16(f"digestSizes[{i}].algorithmId")
        sizes[alg] = spec.le16(f"digestSizes[{i}].digestSize")
    vendor = spec.u8("vendorInfoSize")
    spec.take(vendor, "vendorInfo")
    spec.end()

    records: list[LogRecord] = []
    while r.offset < len(data):
        if len(records) >= MAX_EVENTS:
            raise r.fail("records", f"more than {MAX_EVENTS} records")
        at = r.offset
        pcr = r.le32("pcrIndex")
        kind = r.le32("eventType")
        count = r.le32("digests.count")
        if count > MAX_ALGORITHMS:
            raise r.fail("digests.count", f"{count} exceeds {MAX_ALGORITHMS}", at + 8)
        digests = []
        for i in range(count):
            alg_at = r.offset
            alg = r.le16(f"digests[{i}].hashAlg")
            if alg not in sizes:
                raise r.fail(f"digests[{i}].hashAlg", f"0x{alg:04x} not in the header", alg_at)
            value = r.take(sizes[alg], f"digests[{i}].digest")
            if alg in tpm2.HASH_NAMES:
                digests.append((tpm2.HASH_NAMES[alg], value))
        size_at = r.offset
        size = r.le32("eventSize")
        if size > MAX_EVENT_DATA:
            raise r.fail("eventSize", f"{size} exceeds {MAX_EVENT_DATA}", size_at)
        records.append(LogRecord(pcr, kind, tuple(digests), r.take(size, "event")))
    banks = tuple(tpm2.HASH_NAMES[a] for a in sizes if a in tpm2.HASH_NAMES)
    return EventLog(banks, tuple(records))
