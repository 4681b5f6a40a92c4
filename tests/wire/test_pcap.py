"""The pcap reader and writer, and `apmip decode`."""

from __future__ import annotations

import io
import ipaddress
import json
import struct
from pathlib import Path

import pytest

from apmip.cli import main
from apmip.errors import DecodeError
from apmip.wire import (
    AttestationRequest,
    BindingUpdate,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    attestation_options,
    encode,
)
from apmip.wire.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    CaptureError,
    NotMobility,
    PcapReader,
    PcapWriter,
    find_mobility,
    ipv6_packet,
    mh_packet,
    read,
    udp_datagram,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
A, B = V6("2001:db8::1"), V6("2001:db8::2")
MESSAGE = BindingUpdate.proxy_update(
    3,
    10,
    (MobileNodeIdentifier(1, b"mn"), HomeNetworkPrefix(ipaddress.IPv6Network("2001:db8:5::/64"))),
)
MH = encode(MESSAGE)


def pcap_bytes(linktype: int, frames: list[bytes], order: str = "<", nanos: bool = False) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, frame in enumerate(frames):
        out += struct.pack(order + "IIII", 100 + i, 5, len(frame), len(frame)) + frame
    return out


def test_writer_then_reader(tmp_path: Path) -> None:
    path = tmp_path / "w.pcap"
    with PcapWriter(path) as writer:
        writer.write_mh(A, B, MH, 1700000000.123456)
        writer.write_udp(V4("192.0.2.1"), V4("192.0.2.2"), 5436, 5436, MH, 1700000001)
        writer.write_udp(A, B, 5436, 40000, MH, 1700000002)
        writer.write_udp(A, B, 53, 53, b"dns", 1700000003)
    assert writer.count == 4
    reader = PcapReader(path)
    assert reader.linktype == LINKTYPE_RAW
    results = list(read(path))
    assert results[0][0].timestamp == pytest.approx(1700000000.123456)
    first, second, third = (found for _, found in results[:3])
    assert not isinstance(first, DecodeError) and first.decode() == MESSAGE
    assert not isinstance(second, DecodeError) and second.transport == "udp"
    assert second.decode() == MESSAGE and second.checksum_ok() is None
    assert not isinstance(third, DecodeError) and third.sport == 5436 and third.dport == 40000
    assert isinstance(results[3][1], NotMobility)


def test_writer_checksums_verify_with_scapy() -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6

    packet = IP(udp_datagram(V4("192.0.2.1"), V4("192.0.2.2"), 5436, 5436, MH))
    for layer in (IP, UDP):
        fresh = packet.copy()
        del fresh[layer].chksum
        assert IP(bytes(fresh))[layer].chksum == packet[layer].chksum
    packet6 = IPv6(udp_datagram(A, B, 5436, 5436, MH))
    fresh6 = packet6.copy()
    del fresh6[UDP].chksum
    assert IPv6(bytes(fresh6))[UDP].chksum == packet6[UDP].chksum


def test_writer_accepts_an_open_file() -> None:
    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    writer.write_mh(A, B, MH, 1.0)
    writer.close()
    assert buffer.getvalue()[:4] == struct.pack("<I", 0xA1B2C3D4)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_byte_orders_and_resolutions(tmp_path: Path, order: str, nanos: bool) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(LINKTYPE_RAW, [mh_packet(A, B, MH)], order, nanos))
    ((frame, found),) = list(read(path))
    assert frame.timestamp == pytest.approx(100 + 5 * (1e-9 if nanos else 1e-6))
    assert not isinstance(found, DecodeError) and found.decode() == MESSAGE


def test_ethernet_vlan_and_linux_cooked_frames() -> None:
    packet = mh_packet(A, B, MH)
    ethernet = bytes(12) + b"\x86\xdd" + packet + bytes(6)  # trailing Ethernet padding
    assert find_mobility(ethernet, LINKTYPE_ETHERNET).decode() == MESSAGE
    tagged = bytes(12) + b"\x81\x00\x00\x05\x86\xdd" + packet
    assert find_mobility(tagged, LINKTYPE_ETHERNET).decode() == MESSAGE
    cooked = bytes(14) + b"\x86\xdd" + packet
    assert find_mobility(cooked, LINKTYPE_LINUX_SLL).decode() == MESSAGE
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    with pytest.raises(NotMobility):
        find_mobility(arp, LINKTYPE_ETHERNET)


def test_extension_headers_before_the_mobility_header() -> None:
    # a Destination Options header (Next Header 135, length 0: 8 octets, PadN 4)
    body = bytes([135, 0, 1, 4, 0, 0, 0, 0])
    with_checksum = mh_packet(A, B, MH)[40:]
    packet = ipv6_packet(A, B, 60, body + with_checksum)
    found = find_mobility(packet, LINKTYPE_RAW)
    assert found.decode() == MESSAGE


@pytest.mark.parametrize(
    ("frame", "kind", "field"),
    [
        (ipv6_packet(A, B, 6, bytes(20)), NotMobility, "Next Header"),
        (ipv6_packet(A, B, 44, bytes(16)), NotMobility, "Next Header"),
        (mh_packet(A, B, MH)[:-3], DecodeError, "Payload Length"),
        (bytes(30), NotMobility, "network protocol"),
        (b"\x60" + bytes(10), DecodeError, "header"),
        (ipv6_packet(A, B, 60, bytes([135, 5, 0, 0])), DecodeError, "length"),
    ],
)
def test_frame_faults(frame: bytes, kind: type, field: str) -> None:
    with pytest.raises(kind) as caught:
        find_mobility(frame, LINKTYPE_RAW)
    assert caught.value.field == field


def test_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pcap"
    with pytest.raises(CaptureError, match="cannot read"):
        PcapReader(missing)
    text = tmp_path / "text.pcap"
    text.write_text("this is not a capture at all")
    with pytest.raises(CaptureError, match="not a pcap file"):
        PcapReader(text)
    pcapng = tmp_path / "x.pcapng"
    pcapng.write_bytes(struct.pack("<I", 0x0A0D0D0A) + bytes(40))
    with pytest.raises(CaptureError, match="pcapng"):
        PcapReader(pcapng)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap_bytes(LINKTYPE_RAW, [mh_packet(A, B, MH)])[:-5])
    with pytest.raises(CaptureError, match="announced"):
        list(PcapReader(cut))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["decode", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evidence = bytes(range(256)) * 2
    message = BindingUpdate.proxy_update(
        9, 10, attestation_options(AttestationRequest(bytes(16)), evidence)
    )
    path = tmp_path / "c.pcap"
    with PcapWriter(path) as writer:
        writer.write_mh(A, B, encode(message), 1.0)
        writer.write_packet(ipv6_packet(A, B, 135, b"\x06" + encode(MESSAGE)[1:]), 2.0)
        writer.write_udp(A, B, 53, 53, b"x", 3.0)
    code, out, err = run_cli(capsys, str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert "Binding Update" in lines[0] and "flags=ack,proxy" in lines[0]
    assert any("attestation request: nonce 00000000000000000000000000000000" in x for x in lines)
    assert any("evidence fragment 1 of 3" in x for x in lines)
    assert any("evidence reassembled: 512 bytes" in x for x in lines)
    assert sum("malformed:" in x for x in lines) == 1
    assert any("skipped" in x for x in lines)
    assert lines[-1].startswith("3 frames: 1 messages, 1 malformed, 1 other traffic")

    code, out, _ = run_cli(capsys, "--json", str(path))
    document = json.loads(out)
    assert code == 0
    assert document["summary"] == {"frames": 3, "messages": 1, "malformed": 1, "skipped": 1}
    first = document["frames"][0]
    assert first["checksum"] == "ok"
    assert first["message"]["attestation"]["evidence_size"] == 512
    assert document["frames"][1]["error"]["field"] == "Payload Proto"


def test_decode_cli_strict_checksums(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.pcap"
    with PcapWriter(path) as writer:
        writer.write_packet(ipv6_packet(A, B, 135, MH), 1.0)  # checksum left at zero
    code, out, _ = run_cli(capsys, str(path))
    assert code == 0 and "[checksum does not verify]" in out
    code, out, _ = run_cli(capsys, "--strict", str(path))
    assert code == 0 and "malformed: Binding Update: Checksum at offset 4" in out


def test_decode_cli_refuses_what_is_not_a_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is a text file and not a packet capture")
    code, out, err = run_cli(capsys, str(text))
    assert code == 2 and out == "" and "not a pcap file" in err
    code, _, err = run_cli(capsys, str(tmp_path / "absent.pcap"))
    assert code == 2 and "cannot read" in err


def test_decode_cli_describes_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evidence_module = pytest.importorskip("apmip.attest.evidence")
    evidence = evidence_module.Evidence(b"\x01" * 10, b"\x02" * 10, bytes(32), ()).to_bytes()
    message = BindingUpdate.proxy_update(9, 10, attestation_options(None, evidence))
    path = tmp_path / "e.pcap"
    with PcapWriter(path) as writer:
        writer.write_mh(A, B, encode(message), 1.0)
        broken = BindingUpdate.proxy_update(9, 10, attestation_options(None, b"\xff" * 40))
        writer.write_mh(A, B, encode(broken), 2.0)
    code, out, _ = run_cli(capsys, "--json", str(path))
    assert code == 0
    first, second = (f["message"]["attestation"] for f in json.loads(out)["frames"])
    assert first["evidence_size"] == len(evidence)
    assert first["evidence"]["ak_cert_digest"] == "00" * 32
    assert second["evidence_size"] == 40
    assert str(second["evidence"]).startswith("not parsable")
