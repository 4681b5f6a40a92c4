"""Where the daemon sends: a MAG to its configured LMA port, an LMA back to the source port
of the datagram it answers (RFC 5844 section 7.4)."""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv6Network
from pathlib import Path

from apmip.runtime import config
from apmip.runtime.daemon import Daemon
from apmip.runtime.node import build_engine
from apmip.wire import mh
from apmip.wire.messages import BindingAck, BindingUpdate
from apmip.wire.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
)

MAG = """
[node]
name = "mag1"
address = "127.0.0.2"
port = 7001

[mag]
lma = "127.0.0.1"
lma_port = 7002

[attestation]
enabled = false
"""

LMA = """
[node]
name = "lma"
address = "127.0.0.1"
port = 7002

[attestation]
enabled = false
"""


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def daemon(tmp_path: Path, text: str, role: str) -> tuple[Daemon, Transport]:
    path = tmp_path / f"{role}.toml"
    path.write_text(text)
    loaded = config.load(path, role)
    engine, _ = build_engine(loaded)
    node = Daemon(loaded, engine)
    transport = Transport()
    node._transport = transport  # type: ignore[assignment]
    return node, transport


def pbu(mn: bytes, sequence: int, lifetime: int = 60) -> bytes:
    return mh.encode(
        BindingUpdate(
            sequence=sequence,
            lifetime=lifetime,
            ack=True,
            home=True,
            link_local=False,
            key_mgmt=False,
            map_reg=False,
            mobile_router=False,
            proxy=True,
            options=(
                MobileNodeIdentifier(identifier=mn),
                HomeNetworkPrefix(prefix=IPv6Network("::/0")),
                HandoffIndicator(value=1),
                AccessTechnologyType(value=4),
                Timestamp.from_seconds(time.time()),
            ),
        )
    )


def test_a_mag_keeps_sending_to_its_configured_lma_port(tmp_path):
    mag, transport = daemon(tmp_path, MAG, "mag")
    assert mag._command({"op": "attach", "mn": "mn1@x"}) == {"ok": True}
    # garbage from the LMA's address but another port must not redirect later PBUs
    mag.on_datagram(b"\x00garbage", ("127.0.0.1", 40000))
    assert mag._command({"op": "attach", "mn": "mn2@x"}) == {"ok": True}
    assert [addr for _, addr in transport.sent] == [("127.0.0.1", 7002), ("127.0.0.1", 7002)]
    assert mag.engine.counters["rx_malformed"] == 1


def test_an_lma_answers_each_pbu_at_the_port_it_came_from(tmp_path):
    lma, transport = daemon(tmp_path, LMA, "lma")
    lma.on_datagram(pbu(b"mn1@x", 1), ("127.0.0.2", 40001))
    lma.on_datagram(pbu(b"mn2@x", 1), ("127.0.0.2", 40002))
    lma.on_datagram(b"\x00garbage", ("127.0.0.2", 40003))
    assert [addr for _, addr in transport.sent] == [("127.0.0.2", 40001), ("127.0.0.2", 40002)]
    answers = [mh.decode(data) for data, _ in transport.sent]
    assert [(type(a), a.status) for a in answers] == [(BindingAck, 0), (BindingAck, 0)]


def test_a_sent_datagram_is_traced_at_the_time_it_was_sent(tmp_path):
    ticks = iter(range(1000, 2000))
    path = tmp_path / "mag.toml"
    path.write_text(MAG)
    loaded = config.load(path, "mag")
    engine, _ = build_engine(loaded)
    mag = Daemon(loaded, engine, clock=lambda: float(next(ticks)))
    sent_at: list[float] = []

    class Clocked(Transport):
        def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
            sent_at.append(float(next(ticks)))

    mag._transport = Clocked()  # type: ignore[assignment]
    queue: asyncio.Queue[dict | None] = asyncio.Queue()
    mag._subscribers.append(queue)
    mag._tracers.append(queue)
    assert mag._command({"op": "attach", "mn": "mn1@x"}) == {"ok": True}
    records = [queue.get_nowait() for _ in range(queue.qsize())]
    tx = [r for r in records if r is not None and r["kind"] == "tx"]
    assert len(tx) == len(sent_at) == 1
    assert tx[0]["at"] < sent_at[0]
