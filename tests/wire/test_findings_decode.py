"""`apmip decode` on what is not a capture file, and on records with impossible lengths."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from apmip.cli import main
from apmip.wire.pcap import LINKTYPE_RAW, MAX_RECORD, CaptureError, PcapReader


def header(snaplen: int = 65535) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_RAW)


def record(captured: int, data: bytes) -> bytes:
    return struct.pack("<IIII", 7, 0, captured, captured) + data


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["decode", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_before_it_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "/dev/zero")
    assert (code, out) == (2, "")
    assert err == (
        "apmip decode: /dev/zero: not a regular file (a character device); "
        "give the path of a pcap capture file\n"
    )


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"apmip decode: {tmp_path}: not a regular file (a directory); "
        "give the path of a pcap capture file\n"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CaptureError) as caught:
        PcapReader(fifo)
    assert str(caught.value) == (
        f"{fifo}: not a regular file (a FIFO); give the path of a pcap capture file"
    )


def test_a_record_larger_than_any_capture_stops_the_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.pcap"
    path.write_bytes(header() + record(0xFFFFFFF0, b"x" * 100))
    code, out, err = run(capsys, str(path))
    assert code == 1
    assert out == "0 frames: 0 messages, 0 malformed, 0 other traffic (raw IP capture)\n"
    assert err == (
        f"apmip decode: {path}: frame 1: record announces 4294967280 bytes, more than the "
        "262144 a pcap record may hold; the file is damaged\n"
    )
    code, out, _ = run(capsys, "--json", str(path))
    assert code == 1 and json.loads(out)["stopped"].endswith("the file is damaged")


def test_the_largest_allowed_record_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    path.write_bytes(header(0) + record(MAX_RECORD, bytes(MAX_RECORD)))
    (frame,) = PcapReader(path)
    assert len(frame.data) == MAX_RECORD


def test_a_record_past_the_snap_length_is_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "over.pcap"
    path.write_bytes(header(10) + record(20, bytes(20)) + record(4, bytes(4)))
    code, out, err = run(capsys, str(path))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "#1 7.000000 malformed: frame: captured length at offset 0: "
        "20 bytes, more than the capture's snap length 10"
    )
    assert out.splitlines()[-1] == (
        "2 frames: 0 messages, 1 malformed, 1 other traffic (raw IP capture)"
    )


def test_pmipv6_over_udp_on_another_port_is_decoded_when_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipaddress import IPv4Address

    from apmip.wire import mh
    from apmip.wire.messages import BindingUpdate
    from apmip.wire.pcap import PcapWriter

    path = tmp_path / "udp.pcap"
    pbu = mh.encode(BindingUpdate(sequence=5, lifetime=2, ack=True, proxy=True))
    with PcapWriter(path) as writer:
        writer.write_udp(
            IPv4Address("127.0.0.2"), IPv4Address("127.0.0.1"), 16100, 16100, pbu, 1.0
        )
    assert main(["decode", "--json", str(path)]) == 0
    frames = json.loads(capsys.readouterr().out)
    assert "not port 5436" in json.dumps(frames)
    assert main(["decode", "--json", "--udp-port", "16100", str(path)]) == 0
    decoded = json.dumps(json.loads(capsys.readouterr().out))
    assert '"sequence": 5' in decoded and "not port" not in decoded


def test_skipped_udp_ports_get_a_hint_and_bad_ports_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipaddress import IPv4Address

    from apmip.wire import mh
    from apmip.wire.messages import BindingUpdate
    from apmip.wire.pcap import PcapWriter

    path = tmp_path / "udp.pcap"
    pbu = mh.encode(BindingUpdate(sequence=5, lifetime=2, ack=True, proxy=True))
    with PcapWriter(path) as writer:
        writer.write_udp(
            IPv4Address("127.0.0.2"), IPv4Address("127.0.0.1"), 16100, 16100, pbu, 1.0
        )
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert out.splitlines()[-1] == (
        "hint: UDP traffic on other ports was skipped; if it is PMIPv6, add --udp-port 16100"
    )
    code, _, err = run(capsys, "--udp-port", "70000", str(path))
    assert (code, err.strip()) == (2, "apmip decode: --udp-port 70000 is not a port (1..65535)")
