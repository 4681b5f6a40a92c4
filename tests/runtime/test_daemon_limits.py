"""What a daemon keeps for its event subscribers and its event file, under floods."""

from __future__ import annotations

import asyncio

from apmip.core.events import Event
from apmip.runtime import config as config_module
from apmip.runtime import daemon as daemon_module
from apmip.runtime.daemon import Daemon
from apmip.runtime.node import build_engine

from .test_config import PLAIN


def make_daemon(tmp_path) -> Daemon:
    path = tmp_path / "mag.toml"
    path.write_text(PLAIN)
    config = config_module.load(path, "mag")
    engine, _ = build_engine(config)
    return Daemon(config, engine)


def test_a_subscriber_that_stops_reading_is_cut_off(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_module, "SUBSCRIBER_BACKLOG", 5)
    daemon = make_daemon(tmp_path)
    slow: asyncio.Queue = asyncio.Queue()
    daemon._subscribers.append(slow)
    for i in range(12):
        daemon._publish(Event("attach", float(i), mn=f"m{i}"))
    assert daemon._subscribers == []
    assert slow.qsize() == 1 and slow.get_nowait() is None  # told to end, nothing else kept


def test_events_a_peer_can_cause_are_limited_per_minute(tmp_path):
    daemon = make_daemon(tmp_path)
    seen: asyncio.Queue = asyncio.Queue()
    daemon._subscribers.append(seen)
    for i in range(50):
        daemon._publish(Event("dropped", 100.0 + i * 0.1, peer="127.0.0.9"))
    daemon._publish(Event("dropped", 100.0, peer="127.0.0.8"))  # another source has its own
    assert seen.qsize() == 21
    assert daemon.engine.counters["events_suppressed"] == 30
    daemon._publish(Event("dropped", 161.0, peer="127.0.0.9"))  # a new minute
    assert seen.qsize() == 22
