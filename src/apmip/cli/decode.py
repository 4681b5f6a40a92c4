"""`apmip decode FILE.pcap`: print the Mobility Header messages of a capture.

Each frame gets one block: the message with its fields and options, apmip's attestation
options spelled out; a malformed frame gets one line saying what is wrong; other traffic gets
one "skipped" line. Only a regular file is read, one record at a time, and the text output is
printed as the frames are read. Exit status: 0 when the file was read (even with malformed
packets in it), 1 when the file ended in the middle of a record or a record's length is
impossible, 2 when it is not a capture file at all.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from apmip.errors import DecodeError
from apmip.wire import attestation
from apmip.wire.describe import describe_message
from apmip.wire.pcap import (
    DEFAULT_UDP_PORTS,
    LINKTYPES,
    CaptureError,
    Frame,
    NotMobility,
    PcapReader,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "decode", help="print the Mobility Header messages of a pcap capture"
    )
    parser.add_argument("file", metavar="FILE.pcap", help="a classic pcap file")
    parser.add_argument("--json", action="store_true", help="one JSON document for scripts")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat a Mobility Header checksum that does not verify as malformed",
    )
    parser.add_argument(
        "--vendor-id",
        type=int,
        default=attestation.DEFAULT_VENDOR_ID,
        help="enterprise number of the attestation options "
        f"(default {attestation.DEFAULT_VENDOR_ID})",
    )
    parser.add_argument(
        "--udp-port",
        type=int,
        action="append",
        metavar="PORT",
        help="UDP port carrying PMIPv6 over IPv4 (default 5436, RFC 5844); repeat for several",
    )
    parser.set_defaults(func=run)


def iter_frames(reader: PcapReader, strict: bool, vendor_id: int) -> Iterator[dict[str, Any]]:
    """Every frame as a dict, one at a time; CaptureError when the file stops being readable."""
    for frame in reader:
        yield _frame_entry(reader, frame, strict, vendor_id)


def decode_frames(
    reader: PcapReader, strict: bool, vendor_id: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Every frame as a dict, and the reason reading stopped early (or None)."""
    frames: list[dict[str, Any]] = []
    try:
        frames.extend(iter_frames(reader, strict, vendor_id))
    except CaptureError as exc:
        return frames, str(exc)
    return frames, None


def _frame_entry(reader: PcapReader, frame: Frame, strict: bool, vendor_id: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"frame": frame.number, "time": frame.timestamp}
    try:
        packet = reader.mobility(frame)
    except NotMobility as exc:
        entry["skipped"] = str(exc)
        return entry
    except DecodeError as exc:
        entry["error"] = _error(exc)
        return entry
    entry.update(src=str(packet.src), dst=str(packet.dst), transport=packet.transport)
    if packet.sport is not None:
        entry.update(sport=packet.sport, dport=packet.dport)
    checksum = packet.checksum_ok()
    entry["checksum"] = {None: "unused", True: "ok", False: "bad"}[checksum]
    try:
        message = packet.decode(verify_checksum=strict)
    except DecodeError as exc:
        entry["error"] = _error(exc)
        return entry
    entry["length"] = len(packet.mh)
    entry["message"] = describe_message(message, vendor_id)
    return entry


def _error(exc: DecodeError) -> dict[str, Any]:
    return {
        "what": exc.what,
        "field": exc.field,
        "offset": exc.offset,
        "detail": exc.detail,
        "text": str(exc),
    }


def _tally(summary: dict[str, int], entry: dict[str, Any]) -> None:
    summary["frames"] += 1
    for key, kind in (("message", "messages"), ("error", "malformed"), ("skipped", "skipped")):
        if key in entry:
            summary[kind] += 1


def run(args: argparse.Namespace) -> int:
    try:
        bad = [p for p in args.udp_port or () if not 1 <= p <= 65535]
        if bad:
            print(f"apmip decode: --udp-port {bad[0]} is not a port (1..65535)", file=sys.stderr)
            return 2
        ports = frozenset(args.udp_port) if args.udp_port else DEFAULT_UDP_PORTS
        reader = PcapReader(args.file, ports)
    except CaptureError as exc:
        print(f"apmip decode: {exc}", file=sys.stderr)
        return 2
    try:
        stopped = _json(args, reader) if args.json else _text(args, reader)
    except BrokenPipeError:  # the reader of our output went away (| head)
        return 0
    if stopped:
        print(f"apmip decode: {stopped}", file=sys.stderr)
        return 1
    return 0


def _json(args: argparse.Namespace, reader: PcapReader) -> str | None:
    frames, stopped = decode_frames(reader, args.strict, args.vendor_id)
    summary = dict.fromkeys(("frames", "messages", "malformed", "skipped"), 0)
    for entry in frames:
        _tally(summary, entry)
    document = {
        "file": args.file,
        "linktype": reader.linktype,
        "frames": frames,
        "summary": summary,
        "stopped": stopped,
    }
    print(json.dumps(document, indent=2))
    return stopped


def _text(args: argparse.Namespace, reader: PcapReader) -> str | None:
    # frames are printed as they are read, so a long capture is never held in memory
    summary = dict.fromkeys(("frames", "messages", "malformed", "skipped"), 0)
    stopped = None
    other_ports: set[str] = set()
    try:
        for entry in iter_frames(reader, args.strict, args.vendor_id):
            _tally(summary, entry)
            print(format_frame(entry))
            if "not port" in entry.get("skipped", ""):
                for pair in _PORTS.findall(entry["skipped"]):
                    other_ports.update(pair)
    except CaptureError as exc:
        stopped = str(exc)
    print(
        f"{summary['frames']} frames: {summary['messages']} messages, "
        f"{summary['malformed']} malformed, {summary['skipped']} other traffic"
        f" ({LINKTYPES.get(reader.linktype, reader.linktype)} capture)"
    )
    if other_ports and not summary["messages"]:
        ports = " ".join(f"--udp-port {p}" for p in sorted(other_ports, key=int)[:4])
        print(f"hint: UDP traffic on other ports was skipped; if it is PMIPv6, add {ports}")
    return stopped


# the ports of a "not port" skip reason: "16100 > 16100, not port 5436"
_PORTS = re.compile(r"(\d+) > (\d+), not port")

_SKIP_KEYS = {"message", "mh_type", "options", "attestation", "type", "option"}


def _pairs(item: dict[str, Any]) -> str:
    parts, flags = [], []
    for key, value in item.items():
        if key in _SKIP_KEYS or value is False or value is None:
            continue
        if value is True:
            flags.append(key)
        elif isinstance(value, str) and len(value) > 72:
            parts.append(f"{key}={value[:64]}...({len(value) // 2} bytes)")
        else:
            parts.append(f"{key}={value}")
    if flags:
        parts.append("flags=" + ",".join(flags))
    return " ".join(parts)


def format_frame(entry: dict[str, Any]) -> str:
    """The text form of one frame: a line, plus indented lines for the options."""
    head = f"#{entry['frame']} {entry['time']:.6f}"
    if "skipped" in entry:
        return f"{head} skipped: {entry['skipped']}"
    if "error" in entry and "src" not in entry:
        return f"{head} malformed: {entry['error']['text']}"
    route = f"{entry['src']} > {entry['dst']}"
    if entry["transport"] == "udp":
        route += f" (UDP {entry['sport']} > {entry['dport']})"
    if "error" in entry:
        return f"{head} {route} malformed: {entry['error']['text']}"
    message = entry["message"]
    checksum = {"bad": " [checksum does not verify]", "ok": "", "unused": ""}[entry["checksum"]]
    lines = [f"{head} {route} {message['message']} {_pairs(message)}{checksum}"]
    for option in message["options"]:
        lines.append(f"    {option['option']}: {_pairs(option)}")
        found = option.get("attestation")
        if found and found["kind"] == "request":
            lines.append(
                f"      attestation request: nonce {found['nonce']} flags {found['flags']}"
            )
        elif found:
            lines.append(
                f"      attestation evidence fragment {found['index'] + 1} of {found['count']}: "
                f"{found['chunk']} of {found['total']} bytes"
            )
    summary = message.get("attestation")
    if summary:
        if "error" in summary:
            lines.append(f"    attestation refused: {summary['error']}")
        if "evidence_size" in summary:
            lines.append(f"    attestation evidence reassembled: {summary['evidence_size']} bytes")
        if "evidence" in summary:
            lines.append(f"    evidence: {json.dumps(summary['evidence'], sort_keys=True)}")
    return "\n".join(lines)
