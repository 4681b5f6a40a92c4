"""A running LMA daemon under hostile input: captured malformed packets, garbage, forged
evidence. It must count and drop or refuse each one, keep running and keep its bindings."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from ipaddress import IPv6Network
from pathlib import Path

import pytest

from apmip.demo.setup import build_world
from apmip.runtime.daemon import socket_request
from apmip.wire import mh
from apmip.wire.attestation import AttestationRequest, attestation_options
from apmip.wire.messages import BindingAck, BindingUpdate
from apmip.wire.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
)
from apmip.wire.pcap import PcapReader, find_mobility
from apmip.wire.session import key_share_option

from .test_demo import free_udp_port

pytestmark = pytest.mark.slow

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "captures"
ATTACKER = "127.0.0.9"


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def show(world, name: str) -> dict:
    return socket_request(world.control(name), {"op": "show"})


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    world = build_world(root, free_udp_port(), "software", {}, False, {})
    procs = {}
    for name, role in (("lma", "lma"), ("mag1", "mag")):
        log = world.log(name).open("wb")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "apmip.cli", role, "--config", str(world.configs[name])],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        try:
            return all(show(world, n)["ok"] for n in procs)
        except (OSError, ValueError):
            return False

    try:
        wait_for(ready, 30.0)
        socket_request(world.control("mag1"), {"op": "attach", "mn": "mn1@apmip.example"})
        wait_for(lambda: len(show(world, "lma")["bindings"]) == 1)
        yield world, procs
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=10)


def send(world, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ATTACKER, 0))
        for payload in payloads:
            sock.sendto(payload, ("127.0.0.1", world.port))


def capture_payloads() -> list[bytes]:
    assert CAPTURES.is_dir(), f"{CAPTURES} is missing: the project expects ../shared beside it"
    payloads = []
    for path in sorted(CAPTURES.glob("*.pcap")):
        reader = PcapReader(path)
        for frame in reader:
            try:
                payloads.append(find_mobility(frame.data, reader.linktype).mh)
            except Exception:  # frames the reader cannot place are sent whole
                payloads.append(frame.data)
    return payloads


def test_captured_and_garbage_packets_are_counted_and_change_nothing(running):
    world, procs = running
    before = show(world, "lma")
    payloads = [*capture_payloads(), b"", b"\x00", b"\xff" * 3000, bytes(range(256)) * 4]
    assert len(payloads) >= 20
    send(world, payloads)
    wait_for(
        lambda: (
            show(world, "lma")["counters"].get("rx", 0)
            >= before["counters"].get("rx", 0) + len(payloads)
        )
    )
    after = show(world, "lma")
    dropped = sum(
        after["counters"].get(k, 0) - before["counters"].get(k, 0)
        for k in ("rx_malformed", "rx_unexpected")
    )
    # every payload was either malformed or not a Proxy Binding Update (the capture's plain
    # Mobile IPv6 messages), and none was answered
    assert dropped == len(payloads)
    assert after["counters"].get("tx_pba", 0) == before["counters"].get("tx_pba", 0)
    assert after["bindings"] == before["bindings"]
    assert procs["lma"].poll() is None
    assert after["counters"].get("internal_errors", 0) == 0
    # the flood reaches the event file only up to the per-minute budget; the rest is counted
    lines = (world.root / "run" / "lma.events.jsonl").read_text().splitlines()
    dropped = [json.loads(line) for line in lines if '"dropped"' in line]
    assert len([e for e in dropped if e["peer"] == ATTACKER]) == 20
    assert after["counters"]["events_suppressed"] == len(payloads) - 20


def _pbu(seq: int, extra: tuple = ()) -> bytes:
    return mh.encode(
        BindingUpdate(
            sequence=seq,
            lifetime=15,
            ack=True,
            home=True,
            link_local=False,
            key_mgmt=False,
            map_reg=False,
            mobile_router=False,
            proxy=True,
            options=(
                MobileNodeIdentifier(identifier=b"mn1@apmip.example"),
                HomeNetworkPrefix(prefix=IPv6Network("::/0")),
                HandoffIndicator(value=3),
                AccessTechnologyType(value=4),
                Timestamp.from_seconds(time.time()),
                *extra,
            ),
        )
    )


def test_forged_evidence_from_an_unknown_mag_is_refused_and_the_binding_stays(running):
    world, _ = running
    binding = show(world, "lma")["bindings"][0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ATTACKER, 0))
        sock.settimeout(5)
        # claim a handover of mn1: the LMA challenges the unknown MAG first
        sock.sendto(_pbu(100), ("127.0.0.1", world.port))
        challenge = mh.decode(sock.recv(4096))
        assert isinstance(challenge, BindingAck) and challenge.status == 220
        # answer without a key share: refused before any appraisal
        forged = attestation_options(AttestationRequest(nonce=b"n" * 32), b"\x01" * 600)
        sock.sendto(_pbu(101, forged), ("127.0.0.1", world.port))
        refusal = mh.decode(sock.recv(4096))
        assert isinstance(refusal, BindingAck) and refusal.status == 221
        peer = next(p for p in show(world, "lma")["peers"] if p["peer"] == ATTACKER)
        assert (peer["verdict"], peer["reason"]) == ("reject", "no-key-share")
        # answer with 600 bytes of forged evidence and a key share
        sock.sendto(_pbu(102), ("127.0.0.1", world.port))
        assert mh.decode(sock.recv(4096)).status == 220
        forged += (key_share_option(bytes(range(32)), 32473),)
        sock.sendto(_pbu(103, forged), ("127.0.0.1", world.port))
        refusal = mh.decode(sock.recv(4096))
    assert isinstance(refusal, BindingAck) and refusal.status == 221
    state = show(world, "lma")
    assert state["bindings"][0]["mag"] == binding["mag"] == "127.0.0.2"
    assert state["bindings"][0]["prefix"] == binding["prefix"]
    peer = next(p for p in state["peers"] if p["peer"] == ATTACKER)
    assert (peer["verdict"], peer["reason"]) == ("reject", "malformed")


def test_mn_attach_and_detach_wait_for_their_outcome(running):
    world, _ = running

    def mn(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-m",
            "apmip.cli",
            "mn",
            *args,
            "mn7@apmip.example",
            "--socket",
            str(world.control("mag1")),
            "--wait",
            "5",
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    attached = mn("attach")
    assert attached.returncode == 0, attached.stdout + attached.stderr
    assert attached.stdout.startswith("attach mn7@apmip.example: binding-established in ")
    # the prefix is found from a hash of the identifier: the same one after an LMA restart
    assert "prefix=2001:db8:80cc:99bc::/64 lifetime=60.0" in attached.stdout
    assert any(b["mn"] == "mn7@apmip.example" for b in show(world, "lma")["bindings"])
    detached = mn("detach")
    assert detached.returncode == 0
    assert detached.stdout.startswith("detach mn7@apmip.example: binding-removed in ")
    again = mn("detach")
    assert (again.returncode, again.stdout, again.stderr.strip()) == (
        1,
        "",
        "apmip mn: mn7@apmip.example has no binding at this MAG",
    )
