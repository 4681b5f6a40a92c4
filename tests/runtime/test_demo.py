"""`apmip demo` end to end: real daemons, real UDP on loopback, the software attester."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path_factory.mktemp("demo")
    command = [
        sys.executable,
        "-m",
        "apmip.cli",
        "demo",
        "--port",
        str(free_udp_port()),
        "--workdir",
        str(work),
        "--pcap",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    return done, work


def events(work: Path, node: str) -> list[dict]:
    path = work / "run" / f"{node}.events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_exits_zero_with_every_step_as_expected(demo_run):
    done, _ = demo_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 of 6 steps as expected" in done.stdout
    assert done.stdout.count("✓ as expected") == 6


def test_demo_handover_keeps_the_prefix(demo_run):
    _, work = demo_run
    mag1 = [e for e in events(work, "mag1") if e["kind"] == "binding-established"]
    mag2 = [e for e in events(work, "mag2") if e["kind"] == "binding-established"]
    handover = [e for e in events(work, "lma") if e["kind"] == "binding-handover"]
    assert len(mag1) == len(mag2) == len(handover) == 1
    assert mag1[0]["detail"]["prefix"] == mag2[0]["detail"]["prefix"] == "2001:db8:8085:a57c::/64"
    assert handover[0]["detail"]["previous"] == "127.0.0.2"
    assert handover[0]["peer"] == "127.0.0.3"


def test_demo_lma_refuses_the_tampered_mag_naming_its_configuration(demo_run):
    _, work = demo_run
    lma = events(work, "lma")
    verdicts = [e for e in lma if e["kind"] == "peer-appraised" and e["peer"] == "127.0.0.4"]
    assert len(verdicts) == 1
    detail = verdicts[0]["detail"]
    assert (detail["verdict"], detail["reason"], detail["aspect"]) == (
        "reject",
        "reference",
        "configuration",
    )
    assert "mag3.toml" in detail["message"]
    refused = [e for e in lma if e["kind"] == "pbu-refused" and e["peer"] == "127.0.0.4"]
    assert [e["detail"]["status"] for e in refused] == [221]
    assert not [e for e in lma if e["kind"] == "binding-created" and e["peer"] == "127.0.0.4"]
    assert [e["kind"] for e in events(work, "mag3")].count("refused-by-lma") == 1


def test_demo_mag_refuses_the_tampered_lma_and_withdraws(demo_run):
    _, work = demo_run
    mag4 = events(work, "mag4")
    refused = [e for e in mag4 if e["kind"] == "lma-refused"]
    assert len(refused) == 1
    assert refused[0]["detail"]["reason"] == "reference"
    assert "lma2.toml" in refused[0]["detail"]["message"]
    assert not [e for e in mag4 if e["kind"] == "binding-established"]
    assert [e["kind"] for e in events(work, "lma2")].count("binding-deregistered") == 1


@pytest.mark.tshark
def test_demo_capture_decodes_in_tshark(demo_run):
    import shutil

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    _, work = demo_run
    capture = work / "run" / "lma.pcap"
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(capture),
            "-d",
            f"udp.port=={_port(work)},mipv6",
            "-Y",
            "mipv6",
            "-T",
            "fields",
            "-e",
            "mip6.mhtype",
            "-e",
            "mip6.ba.status",
            "-e",
            "mip6.mnid.identifier",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    rows = [line.split("\t") for line in fields]
    # PBU (5) and PBA (6); statuses 220 (challenge), 0 (accepted), 221 (refused)
    assert {row[0] for row in rows} == {"5", "6"}
    statuses = [row[1] for row in rows if row[0] == "6"]
    assert {"0", "220", "221"} <= set(statuses)
    assert any(row[2] == "mn1@apmip.example" for row in rows)


def _port(work: Path) -> int:
    for line in (work / "lma.toml").read_text().splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1])
    raise AssertionError("no port in lma.toml")
