"""A PBU and a PBA carrying every PMIPv6 option, written into a pcap by apmip and read
back by tshark (field values) and scapy (checksum)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

from apmip.wire import (
    AccessTechnologyType,
    AlternateCareOfAddress,
    AttestationRequest,
    BindingAck,
    BindingIdentifier,
    BindingUpdate,
    GreKey,
    HandoffIndicator,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4DhcpSupportMode,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    LoadInformation,
    MobileNodeGroupIdentifier,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    RestartCounter,
    Timestamp,
    attestation_options,
    encode,
)
from apmip.wire.pcap import PcapWriter, read

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
MAG = V6("2001:db8::1")
LMA = V6("2001:db8::2")

OPTIONS = (
    MobileNodeIdentifier(1, b"mn1@example.org"),
    HomeNetworkPrefix(ipaddress.IPv6Network("2001:db8:1::/64")),
    HandoffIndicator(1),
    AccessTechnologyType(4),
    MobileNodeLinkLayerIdentifier(bytes.fromhex("020000000001")),
    LinkLocalAddress(V6("fe80::1")),
    Timestamp.from_seconds(1700000000.5),
    GreKey(0x1234),
    IPv4HomeAddressRequest(24, V4("10.1.2.3")),
    IPv4HomeAddressReply(0, 24, V4("10.1.2.4")),
    IPv4DefaultRouterAddress(V4("10.1.2.1")),
    IPv4DhcpSupportMode(True),
    BindingIdentifier(7, 0, False, V6("2001:db8::99")),
    LoadInformation(1, 2, 3, 4, 5),
    MobileNodeGroupIdentifier(1, 1),
    RestartCounter(42),
    AlternateCareOfAddress(V6("2001:db8::7")),
    *attestation_options(AttestationRequest(bytes(range(32))), bytes(300)),
)
PBU = BindingUpdate.proxy_update(4242, 150, OPTIONS)
PBA = BindingAck(0, 4242, 150, proxy=True, options=OPTIONS)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "pmip.pcap"
    with PcapWriter(path) as writer:
        writer.write_mh(MAG, LMA, encode(PBU), 1700000000.25)
        writer.write_mh(LMA, MAG, encode(PBA), 1700000000.5)
        # the same PBU over the RFC 5844 IPv4/UDP transport, checksum zero
        writer.write_udp(V4("192.0.2.1"), V4("192.0.2.2"), 5436, 5436, encode(PBU), 1700000001.0)
    return path


FIELDS = {
    "mip6.mhtype": ["5", "6", "5"],
    "mip6.bu.seqnr": ["4242", "", "4242"],
    "mip6.bu.a_flag": ["1", "", "1"],
    "mip6.bu.p_flag": ["1", "", "1"],
    "mip6.bu.lifetime": ["150", "", "150"],
    "mip6.ba.status": ["", "0", ""],
    "mip6.ba.p_flag": ["", "1", ""],
    "mip6.ba.seqnr": ["", "4242", ""],
    "mip6.ba.lifetime": ["", "150", ""],
    "mip6.mnid.subtype": ["1"] * 3,
    "mip6.mnid.identifier": ["mn1@example.org"] * 3,
    "mip6.nemo.mnp.pfl": ["64"] * 3,
    "mip6.nemo.mnp.mnp": ["2001:db8:1::"] * 3,
    "mip6.hi": ["1"] * 3,
    "mip6.att": ["4"] * 3,
    "mip6.lila_lla": ["fe80::1"] * 3,
    # the Timestamp option as raw bytes: type 27, length 8, 1700000000.5 in 48.16
    "mip6.options.ts": ["1b0800006553f1008000"] * 3,
    "mip6.gre_key": ["4660"] * 3,
    "mip6.ipv4ha.preflen": ["24;24"] * 3,
    "mip6.ipv4ha.ha": ["10.1.2.3;10.1.2.4"] * 3,
    "mip6.ipv4aa.sts": ["0"] * 3,
    "mip6.ipv4dra.dra": ["10.1.2.1"] * 3,
    "mip6.ipv4dsm.s_flag": ["1"] * 3,
    "mip6.bi.bid": ["7"] * 3,
    "mip6.load_inf.priority": ["1"] * 3,
    "mip6.load_inf.sessions_in_use": ["2"] * 3,
    "mip6.load_inf.maximum_sessions": ["3"] * 3,
    "mip6.load_inf.used_capacity": ["4"] * 3,
    "mip6.load_inf.maximum_capacity": ["5"] * 3,
    "mip6.mng.sub_type": ["1"] * 3,
    "mip6.mng.mng_id": ["1"] * 3,
    "mip6.rc": ["42"] * 3,
    "mip6.acoa.acoa": ["2001:db8::7"] * 3,
    "mip6.vsm.vendorId": ["32473;32473;32473"] * 3,
    "mip6.vsm.subtype": ["1;2;2"] * 3,
}


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_every_pmipv6_option(capture: Path) -> None:
    names = list(FIELDS)
    command = ["tshark", "-r", str(capture), "-T", "fields", "-E", "separator=|"]
    command += ["-E", "occurrence=a", "-E", "aggregator=;"]
    for name in names:
        command += ["-e", name]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines()]
    assert len(rows) == 3
    for column, name in enumerate(names):
        assert [row[column] for row in rows] == FIELDS[name], name


def test_scapy_parses_the_packets_with_a_valid_checksum(capture: Path) -> None:
    from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU, IPv6
    from scapy.utils import rdpcap

    packets = rdpcap(str(capture))
    assert len(packets) == 3
    for packet, kind in zip(packets[:2], (MIP6MH_BU, MIP6MH_BA), strict=True):
        ip6 = IPv6(bytes(packet))
        layer = ip6[kind]
        assert layer.cksum != 0
        # let scapy compute the checksum afresh and compare with ours
        fresh = ip6.copy()
        fresh[kind].cksum = None
        assert IPv6(bytes(fresh))[kind].cksum == layer.cksum
    update = IPv6(bytes(packets[0]))[MIP6MH_BU]
    assert update.seq == 4242 and update.mhtime == 150
    assert "P" in str(update.flags) and "A" in str(update.flags)


def test_our_reader_gets_the_same_messages_back(capture: Path) -> None:
    found = [packet for _, packet in read(capture)]
    assert [p.transport for p in found] == ["ipv6", "ipv6", "udp"]  # type: ignore[union-attr]
    assert found[0].checksum_ok() is True  # type: ignore[union-attr]
    assert found[0].decode() == PBU  # type: ignore[union-attr]
    assert found[1].decode() == PBA  # type: ignore[union-attr]
    assert found[2].decode() == PBU  # type: ignore[union-attr]
    assert found[2].mh[4:6] == b"\x00\x00"  # type: ignore[union-attr]
