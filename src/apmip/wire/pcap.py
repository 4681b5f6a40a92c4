"""Packet captures of Mobility Header traffic: a pcap reader and a writer.

Owns: the classic pcap file format (microsecond and nanosecond, either byte order), finding
the Mobility Header inside a captured frame (raw IPv6 or IPv4 / Ethernet / Linux cooked
capture; IPv6 extension headers; IPv4/UDP port 5436 of RFC 5844), and building real packets
(IPv6 + Mobility Header with its checksum, IPv4 or IPv6 + UDP with checksums) for daemons
that record what they send and receive.
Must never: raise anything but DecodeError for a malformed frame, read past a frame, or hold
more than one record of a capture in memory (a damaged length stops the reading instead).
It is the one module of ``apmip.wire`` that touches files, and only paths the caller names;
it reads no clock (timestamps come from the caller) and opens no socket.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from apmip.errors import DecodeError, WireError

from . import mh
from .messages import Message
from .registry import IPPROTO_MH, PMIP6_CNTL_PORT

#: UDP ports whose traffic is taken as PMIPv6 over IPv4 (RFC 5844 section 7.4)
DEFAULT_UDP_PORTS = frozenset({PMIP6_CNTL_PORT})

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPES = {
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LINUX_SLL: "Linux cooked",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
}

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG = 0x0A0D0D0A
_IPV6 = struct.Struct("!IHBB16s16s")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
# IPv6 extension headers that may sit before the Mobility Header (RFC 8200 section 4)
_EXTENSIONS = {0: "Hop-by-Hop", 43: "Routing", 60: "Destination Options"}
_FRAGMENT = 44
#: The largest record the reader accepts whatever the snap length says (what tcpdump and
#: Wireshark accept for most link types); a larger one means a damaged file.
MAX_RECORD = 262144

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CaptureError(WireError):
    """The file is not a capture this reader understands (names the file and why)."""


class NotMobility(DecodeError):
    """A well-formed frame that does not carry a Mobility Header (other traffic)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame: its number (from 1), time, captured bytes and length on the wire."""

    number: int
    timestamp: float
    data: bytes
    wire_length: int


@dataclass(frozen=True, slots=True)
class MobilityPacket:
    """Where a Mobility Header was found in a frame, and its bytes.

    ``transport`` is ``"ipv6"`` (Next Header 135) or ``"udp"`` (RFC 5844 section 4, where the
    Mobility Header checksum is zero and ignored).
    """

    src: IPAddress
    dst: IPAddress
    transport: str
    mh: bytes
    sport: int | None = None
    dport: int | None = None

    def checksum_ok(self) -> bool | None:
        """Whether the MH checksum verifies; None over UDP, where it is not used."""
        if self.transport != "ipv6":
            return None
        src, dst = self.src, self.dst
        assert isinstance(src, ipaddress.IPv6Address) and isinstance(dst, ipaddress.IPv6Address)
        return mh.verify_checksum(src, dst, self.mh)

    def decode(self, *, verify_checksum: bool = True) -> Message:
        """The message; over IPv6 its checksum is verified unless told otherwise."""
        if self.transport == "ipv6" and verify_checksum:
            src, dst = self.src, self.dst
            assert isinstance(src, ipaddress.IPv6Address)
            assert isinstance(dst, ipaddress.IPv6Address)
            return mh.decode(self.mh, src=src, dst=dst)
        return mh.decode(self.mh)


class PcapReader:
    """Iterates the frames of a classic pcap file (not pcapng), one record at a time.

    Only a regular file is read (a device such as /dev/zero, a FIFO or a directory is refused
    before any byte is read), and never more than one record at a time: a record announcing
    more than :data:`MAX_RECORD` bytes stops the reading with a :class:`CaptureError`, as a
    record cut short does. A record longer than the capture's own snap length is read, and
    :meth:`mobility` reports it as malformed.
    """

    def __init__(self, path: str | Path, udp_ports: frozenset[int] = DEFAULT_UDP_PORTS) -> None:
        self.path = str(path)
        self.udp_ports = udp_ports
        with self._open() as handle:
            header = self._read(handle, 24)
        if len(header) < 24:
            raise CaptureError(f"{self.path}: {len(header)} bytes, too short for a pcap header")
        magic_le = struct.unpack_from("<I", header)[0]
        if magic_le in (_MAGIC_US, _MAGIC_NS):
            self._order = "<"
        elif struct.unpack_from(">I", header)[0] in (_MAGIC_US, _MAGIC_NS):
            self._order = ">"
        elif magic_le == _PCAPNG:
            raise CaptureError(
                f"{self.path}: pcapng is not supported; convert it with "
                "'editcap -F pcap IN OUT' or 'tshark -F pcap -w OUT -r IN'"
            )
        else:
            raise CaptureError(f"{self.path}: not a pcap file (magic 0x{magic_le:08x})")
        magic, major, minor, _, _, snaplen, linktype = struct.unpack_from(
            self._order + "IHHiIII", header
        )
        self.nanoseconds = magic == _MAGIC_NS
        self.version = (major, minor)
        self.snaplen = snaplen
        # the upper bits carry FCS information (pcap-savefile(5)); the type is the low 16
        self.linktype = linktype & 0xFFFF

    def _open(self) -> BinaryIO:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.path, flags)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise CaptureError(f"{self.path}: cannot read: {reason}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise CaptureError(
                f"{self.path}: not a regular file ({_file_kind(mode)}); "
                "give the path of a pcap capture file"
            )
        return os.fdopen(fd, "rb")

    def _read(self, handle: BinaryIO, size: int) -> bytes:
        try:
            return handle.read(size)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    def __iter__(self) -> Iterator[Frame]:
        record = struct.Struct(self._order + "IIII")
        scale = 1e-9 if self.nanoseconds else 1e-6
        with self._open() as handle:
            self._read(handle, 24)
            number = 0
            while head := self._read(handle, 16):
                number += 1
                if len(head) < 16:
                    raise CaptureError(f"{self.path}: frame {number}: record header cut short")
                seconds, fraction, captured, original = record.unpack(head)
                if captured > MAX_RECORD:
                    raise CaptureError(
                        f"{self.path}: frame {number}: record announces {captured} bytes, "
                        f"more than the {MAX_RECORD} a pcap record may hold; the file is damaged"
                    )
                data = self._read(handle, captured)
                if len(data) < captured:
                    raise CaptureError(
                        f"{self.path}: frame {number}: {captured} bytes announced, "
                        f"{len(data)} left in the file"
                    )
                yield Frame(number, seconds + fraction * scale, data, original)

    def mobility(self, frame: Frame) -> MobilityPacket:
        """The Mobility Header in ``frame``; DecodeError (NotMobility for other traffic)."""
        if self.snaplen and len(frame.data) > self.snaplen:
            raise DecodeError(
                "frame",
                "captured length",
                0,
                f"{len(frame.data)} bytes, more than the capture's snap length {self.snaplen}",
            )
        return find_mobility(frame.data, self.linktype, frame.wire_length, self.udp_ports)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "an unknown kind of file")


def read(path: str | Path) -> Iterator[tuple[Frame, MobilityPacket | DecodeError]]:
    """Each frame of a capture with its Mobility Header or the DecodeError saying why not."""
    reader = PcapReader(path)
    for frame in reader:
        try:
            yield frame, reader.mobility(frame)
        except DecodeError as exc:
            yield frame, exc


def find_mobility(
    data: bytes,
    linktype: int,
    wire_length: int | None = None,
    udp_ports: frozenset[int] = DEFAULT_UDP_PORTS,
) -> MobilityPacket:
    """Locate the Mobility Header in one link-layer frame."""
    if wire_length is not None and wire_length > len(data):
        cut = f" (frame cut to {len(data)} of {wire_length} bytes)"
    else:
        cut = ""
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype = 12, None
        while True:
            if len(data) < offset + 2:
                raise DecodeError("Ethernet", "EtherType", offset, f"frame too short{cut}")
            ethertype = int.from_bytes(data[offset : offset + 2], "big")
            if ethertype in (0x8100, 0x88A8):  # 802.1Q / 802.1ad tags
                offset += 4
                continue
            break
        return _network(data, offset + 2, _ETHERTYPES.get(ethertype), ethertype, cut, udp_ports)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            raise DecodeError("Linux cooked header", "length", 0, f"frame too short{cut}")
        ethertype = int.from_bytes(data[14:16], "big")
        return _network(data, 16, _ETHERTYPES.get(ethertype), ethertype, cut, udp_ports)
    if linktype == LINKTYPE_RAW:
        version = data[0] >> 4 if data else 0
        return _network(data, 0, {4: 4, 6: 6}.get(version), version, cut, udp_ports)
    if linktype == LINKTYPE_IPV4:
        return _network(data, 0, 4, 4, cut, udp_ports)
    if linktype == LINKTYPE_IPV6:
        return _network(data, 0, 6, 6, cut, udp_ports)
    raise NotMobility("frame", "link type", 0, f"link type {linktype} is not supported")


_ETHERTYPES = {0x0800: 4, 0x86DD: 6}


def _network(
    data: bytes, offset: int, version: int | None, raw: int, cut: str, udp_ports: frozenset[int]
) -> MobilityPacket:
    if version == 6:
        return _ipv6(data, offset, cut, udp_ports)
    if version == 4:
        return _ipv4(data, offset, cut, udp_ports)
    raise NotMobility("frame", "network protocol", offset, f"0x{raw:04x} is neither IPv4 nor IPv6")


def _ipv6(data: bytes, offset: int, cut: str, udp_ports: frozenset[int]) -> MobilityPacket:
    if len(data) < offset + 40:
        raise DecodeError("IPv6", "header", offset, f"{len(data) - offset} bytes, 40 needed{cut}")
    first, payload_length, next_header, _, src, dst = _IPV6.unpack_from(data, offset)
    if first >> 28 != 6:
        raise DecodeError("IPv6", "version", offset, f"is {first >> 28}, must be 6")
    start = offset + 40
    end = start + payload_length
    if payload_length == 0:
        raise DecodeError("IPv6", "Payload Length", offset + 4, "0 (jumbograms not supported)")
    if end > len(data):
        raise DecodeError(
            "IPv6",
            "Payload Length",
            offset + 4,
            f"{payload_length} bytes, only {len(data) - start} captured{cut}",
        )
    pos = start
    while next_header in _EXTENSIONS:
        if pos + 2 > end:
            raise DecodeError(_EXTENSIONS[next_header], "length", pos, "header cut short")
        following, units = data[pos], data[pos + 1]
        pos += (units + 1) * 8
        if pos > end:
            raise DecodeError(_EXTENSIONS[next_header], "length", pos, "runs past the payload")
        next_header = following
    source = ipaddress.IPv6Address(src)
    destination = ipaddress.IPv6Address(dst)
    if next_header == _FRAGMENT:
        raise NotMobility("IPv6", "Next Header", pos, "a fragment; reassembly is not supported")
    if next_header == 17:
        return _udp(data, pos, end, source, destination, cut, udp_ports)
    if next_header != IPPROTO_MH:
        raise NotMobility(
            "IPv6", "Next Header", pos, f"is {next_header}; only {IPPROTO_MH} is a Mobility Header"
        )
    return MobilityPacket(source, destination, "ipv6", data[pos:end])


def _ipv4(data: bytes, offset: int, cut: str, udp_ports: frozenset[int]) -> MobilityPacket:
    if len(data) < offset + 20:
        raise DecodeError("IPv4", "header", offset, f"{len(data) - offset} bytes, 20 needed{cut}")
    first, _, total, _, fragment, _, proto, _, src, dst = _IPV4.unpack_from(data, offset)
    if first >> 4 != 4:
        raise DecodeError("IPv4", "version", offset, f"is {first >> 4}, must be 4")
    header = (first & 0x0F) * 4
    if header < 20 or total < header:
        raise DecodeError("IPv4", "IHL", offset, f"header {header} bytes, total length {total}")
    end = offset + total
    if end > len(data):
        raise DecodeError(
            "IPv4", "Total Length", offset + 2, f"{total} bytes, only {len(data) - offset}{cut}"
        )
    if fragment & 0x3FFF:
        raise NotMobility("IPv4", "fragment", offset + 6, "a fragment; reassembly not supported")
    source = ipaddress.IPv4Address(src)
    destination = ipaddress.IPv4Address(dst)
    if proto != 17:
        raise NotMobility("IPv4", "Protocol", offset + 9, f"is {proto}, not UDP")
    return _udp(data, offset + header, end, source, destination, cut, udp_ports)


def _udp(
    data: bytes,
    pos: int,
    end: int,
    src: IPAddress,
    dst: IPAddress,
    cut: str,
    udp_ports: frozenset[int],
) -> MobilityPacket:
    if pos + 8 > end:
        raise DecodeError("UDP", "header", pos, f"{end - pos} bytes, 8 needed{cut}")
    sport, dport, length, _ = _UDP.unpack_from(data, pos)
    if sport not in udp_ports and dport not in udp_ports:
        ports = ", ".join(str(p) for p in sorted(udp_ports))
        raise NotMobility("UDP", "port", pos, f"{sport} > {dport}, not port {ports}")
    if length < 8 or pos + length > end:
        raise DecodeError("UDP", "Length", pos + 4, f"{length} does not fit in {end - pos} bytes")
    return MobilityPacket(src, dst, "udp", data[pos + 8 : pos + length], sport, dport)


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    return total or (0xFFFF if any(data) else 0)


def _inet_checksum(data: bytes) -> int:
    return 0xFFFF - _ones_sum(data)


def ipv6_packet(
    src: ipaddress.IPv6Address,
    dst: ipaddress.IPv6Address,
    proto: int,
    payload: bytes,
    hop_limit: int = 64,
) -> bytes:
    """An IPv6 header (no extension headers) followed by ``payload``."""
    return _IPV6.pack(6 << 28, len(payload), proto, hop_limit, src.packed, dst.packed) + payload


def ipv4_packet(
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    proto: int,
    payload: bytes,
    ttl: int = 64,
) -> bytes:
    """An IPv4 header with its checksum, followed by ``payload``."""
    header = _IPV4.pack(
        0x45, 0, 20 + len(payload), 0, 0x4000, ttl, proto, 0, src.packed, dst.packed
    )
    value = _inet_checksum(header)
    return header[:10] + value.to_bytes(2, "big") + header[12:] + payload


def udp_datagram(src: IPAddress, dst: IPAddress, sport: int, dport: int, payload: bytes) -> bytes:
    """A whole IP packet carrying one UDP datagram, with the UDP checksum filled in."""
    length = 8 + len(payload)
    header = _UDP.pack(sport, dport, length, 0)
    if isinstance(src, ipaddress.IPv6Address) and isinstance(dst, ipaddress.IPv6Address):
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", length, 17)
    elif isinstance(src, ipaddress.IPv4Address) and isinstance(dst, ipaddress.IPv4Address):
        pseudo = src.packed + dst.packed + struct.pack("!xBH", 17, length)
    else:
        raise WireError(f"UDP needs two addresses of one family, got {src!r} and {dst!r}")
    value = _inet_checksum(pseudo + header + payload) or 0xFFFF  # RFC 768: 0 is sent as all ones
    segment = header[:6] + value.to_bytes(2, "big") + payload
    if isinstance(src, ipaddress.IPv6Address):
        return ipv6_packet(src, dst, 17, segment)  # type: ignore[arg-type]
    return ipv4_packet(src, dst, 17, segment)  # type: ignore[arg-type]


def mh_packet(src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, mh_bytes: bytes) -> bytes:
    """An IPv6 packet carrying the Mobility Header ``mh_bytes``, its checksum recomputed."""
    value = mh.checksum(src, dst, mh_bytes)
    body = mh_bytes[:4] + value.to_bytes(2, "big") + mh_bytes[6:]
    return ipv6_packet(src, dst, IPPROTO_MH, body)


class PcapWriter:
    """Writes a classic pcap file of raw IP packets (link type 101), flushed per packet.

    Usable as a context manager. ``timestamp`` is seconds since the epoch as the caller read
    it (the writer does not read the clock).
    """

    def __init__(self, path: str | Path | BinaryIO, snaplen: int = 65535) -> None:
        if isinstance(path, (str, Path)):
            self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
            self._owned = True
        else:
            self._file = path
            self._owned = False
        self._file.write(struct.pack("<IHHiIII", _MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_RAW))
        self._file.flush()
        self.count = 0

    def write_packet(self, packet: bytes, timestamp: float) -> None:
        """One raw IPv4 or IPv6 packet."""
        seconds = int(timestamp)
        micros = min(round((timestamp - seconds) * 1e6), 999_999)
        self._file.write(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
        self._file.write(packet)
        self._file.flush()
        self.count += 1

    def write_mh(
        self,
        src6: ipaddress.IPv6Address,
        dst6: ipaddress.IPv6Address,
        mh_bytes: bytes,
        timestamp: float,
    ) -> None:
        """A Mobility Header message sent over IPv6, with a correct checksum."""
        self.write_packet(mh_packet(src6, dst6, mh_bytes), timestamp)

    def write_udp(
        self,
        src: IPAddress,
        dst: IPAddress,
        sport: int,
        dport: int,
        payload: bytes,
        timestamp: float,
    ) -> None:
        """A UDP datagram (for example a Mobility Header over RFC 5844 port 5436)."""
        self.write_packet(udp_datagram(src, dst, sport, dport, payload), timestamp)

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
