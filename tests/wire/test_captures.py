"""The shared captures: what tshark printed for each message, and the malformed packets.

The expected values below were read from `tshark -r ipv6_mobility_1.pcap -V` (tshark 4.0).
Those packets carry a zero checksum, which tshark does not check; this codec decodes them
without the checksum and shows that it does not verify.
"""

from __future__ import annotations

import glob
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from apmip.errors import DecodeError
from apmip.wire import (
    AlternateCareOfAddress,
    BindingAck,
    BindingAuthorizationData,
    BindingError,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    NonceIndices,
    decode,
    encode,
)
from apmip.wire.pcap import LINKTYPE_IPV6, PcapReader, read

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
MOBILITY = CAPTURES / "ipv6_mobility_1.pcap"
ASAN = sorted(glob.glob(str(CAPTURES / "mobility_opt_asan*.pcap")))

pytestmark = pytest.mark.skipif(not MOBILITY.exists(), reason="shared/captures not present")

ACOA = AlternateCareOfAddress(ipaddress.IPv6Address("2001:660:4701:f004:20d:54ff:fe98:bc93"))
NONCES = NonceIndices(1234, 5678)
AUTH = BindingAuthorizationData(bytes.fromhex("8101738d517d516940ec0611"))


def bu(*options: Any) -> BindingUpdate:
    # Sequence number 1000, A flag only, Lifetime 3600 (14400 seconds)
    return BindingUpdate(1000, 3600, ack=True, options=options)


def ba(*options: Any) -> BindingAck:
    # Status 0 (Binding Update accepted), no flags, Sequence 1000, Lifetime 3600
    return BindingAck(0, 1000, 3600, options=options)


# frame number -> (Header length as tshark prints it, the message tshark describes)
EXPECTED = {
    1: (0, BindingRefreshRequest()),
    2: (1, HomeTestInit(0x0102030405060708)),
    3: (1, CareOfTestInit(0x090A0B0C0D0E0F10)),
    4: (2, HomeTest(2314, 0x0B0C0D0E0F1004D2, 0x1112131415161718)),
    5: (2, CareOfTest(2314, 0x0B0C0D0E0F10162E, 0x191A1B1C1D1E1F20)),
    6: (1, bu()),  # PadN length 2
    7: (3, bu(ACOA)),  # then PadN length 0
    8: (2, bu(NONCES)),  # then PadN length 4
    9: (3, bu(AUTH)),  # then PadN length 4
    10: (6, bu(ACOA, NONCES, AUTH)),  # then PadN length 4
    11: (1, ba()),  # PadN length 2
    12: (1, ba(BindingRefreshAdvice(1800))),  # refresh interval 1800 (7200 seconds)
    13: (3, ba(AUTH)),
    14: (3, ba(BindingRefreshAdvice(1800), AUTH)),
    15: (2, BindingError(1, ipaddress.IPv6Address("2001:db8::1"))),
    16: (1, bu()),  # four Pad1
}


def frames() -> list[tuple[int, Any]]:
    return [(frame.number, found) for frame, found in read(MOBILITY)]


def test_capture_is_raw_ipv6_with_sixteen_frames() -> None:
    reader = PcapReader(MOBILITY)
    assert reader.linktype == LINKTYPE_IPV6
    assert [number for number, _ in frames()] == list(range(1, 17))


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_message_decodes_to_what_tshark_shows(number: int) -> None:
    found = dict(frames())[number]
    assert not isinstance(found, DecodeError)
    assert found.src == ipaddress.IPv6Address("2001:db8::1")
    assert found.dst == ipaddress.IPv6Address("2001:db8::2")
    header_len, expected = EXPECTED[number]
    assert found.mh[1] == header_len
    message = found.decode(verify_checksum=False)
    assert message == expected
    assert type(message) is type(expected)
    # and it re-encodes to the captured bytes exactly (padding included)
    assert encode(message) == found.mh
    # the capture's checksum (0x0000, "Checksum: 0x0000" in tshark) does not verify
    assert found.checksum_ok() is False
    with pytest.raises(DecodeError) as caught:
        found.decode()
    assert caught.value.field == "Checksum"


def test_details_tshark_prints() -> None:
    found = dict(frames())
    update = found[6].decode(verify_checksum=False)
    assert update.lifetime_seconds == 14400 and update.ack and not update.proxy
    advice = found[12].decode(verify_checksum=False).find(BindingRefreshAdvice)
    assert advice is not None and advice.interval * 4 == 7200


@pytest.mark.parametrize("path", ASAN, ids=lambda p: Path(p).name)
def test_every_malformed_packet_is_refused(path: str) -> None:
    reader = PcapReader(path)
    count = 0
    for frame in reader:
        count += 1
        with pytest.raises(DecodeError):
            reader.mobility(frame).decode()
        # and the bytes where a Mobility Header would start, given straight to the codec
        # (Ethernet 14 + IPv6 40), are refused too
        with pytest.raises(DecodeError):
            decode(frame.data[54:])
        with pytest.raises(DecodeError):
            decode(
                frame.data[54:], src=ipaddress.IPv6Address("::1"), dst=ipaddress.IPv6Address("::2")
            )
    assert count >= 1
