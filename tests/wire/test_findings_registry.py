"""Access Technology Types past RFC 5213 and the RFC 3963 status codes get their names."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from apmip.cli import main
from apmip.wire import (
    AccessTechnologyType,
    BindingUpdate,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    encode,
    registry,
)
from apmip.wire.describe import describe_option
from apmip.wire.pcap import PcapWriter

A, B = ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::2")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (5, "IEEE_802_16E"),
        (6, "GERAN"),
        (7, "UTRAN"),
        (8, "E_UTRAN"),
        (9, "EHRPD"),
        (10, "HRPD"),
        (11, "ONE_X_RTT"),
        (12, "UMB"),
    ],
)
def test_access_technology_types_of_the_iana_registry(value: int, name: str) -> None:
    assert registry.AccessTechnologyType(value).name == name
    described = describe_option(AccessTechnologyType(value))
    assert (described["value"], described["value_name"]) == (value, name)


def test_unconfirmed_access_technology_types_stay_plain_numbers() -> None:
    assert max(registry.AccessTechnologyType) == 12
    assert "value_name" not in describe_option(AccessTechnologyType(13))


def test_nemo_status_codes() -> None:
    assert {s.value: s.name for s in registry.Status if 140 <= s.value <= 143} == {
        140: "MOBILE_ROUTER_OPERATION_NOT_PERMITTED",
        141: "INVALID_PREFIX",
        142: "NOT_AUTHORIZED_FOR_PREFIX",
        143: "FORWARDING_SETUP_FAILED",
    }


def test_decode_names_lte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pbu = BindingUpdate.proxy_update(
        1,
        10,
        (
            MobileNodeIdentifier(1, b"mn1@example.net"),
            HomeNetworkPrefix(ipaddress.IPv6Network("::/0")),
            AccessTechnologyType(8),
        ),
    )
    path = tmp_path / "lte.pcap"
    with PcapWriter(path) as writer:
        writer.write_mh(A, B, encode(pbu), 1.0)
    assert main(["decode", str(path)]) == 0
    out = capsys.readouterr().out
    assert "    Access Technology Type: value=8 value_name=E_UTRAN" in out.splitlines()
