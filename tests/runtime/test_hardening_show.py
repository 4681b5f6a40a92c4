"""`apmip show` and `apmip mn` as a user sees them: odd answers, times left, closed pipes."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from apmip.cli import show

from .test_hardening_ports import LMA, MAG, daemon, pbu

NOW = 1_000_000.0


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[tuple[Path, list[dict]]]:
    """A control socket that answers each connection with the next canned answer."""
    path = tmp_path / "fake.sock"
    answers: list[dict] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(json.dumps(answers.pop(0)).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, answers
    server.close()


def run_show(path: Path, view: str = "all") -> int:
    return show.run(argparse.Namespace(socket=str(path), view=view, json=False))


def test_an_answer_that_is_not_a_daemons_state(answering, capsys):
    path, answers = answering
    answers.append({"ok": True})
    assert run_show(path) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"apmip show: {path} answered without a valid role, name, address, uptime, bindings, "
        "peers, counters (is it the control socket of an apmip daemon?)\n",
    )


def test_an_error_answer_is_shown(answering, capsys):
    path, answers = answering
    answers.append({"ok": False, "error": "unknown op 'show' for a toaster"})
    assert run_show(path) == 1
    assert capsys.readouterr().err == f"apmip show: {path}: unknown op 'show' for a toaster\n"


def state(role: str, bindings: list[dict], counters: dict) -> dict:
    return {
        "ok": True,
        "role": role,
        "name": role + "1",
        "address": "127.0.0.1",
        "uptime": 12.0,
        "bindings": bindings,
        "peers": [],
        "counters": counters,
    }


def test_times_left_and_empty_counters(answering, capsys, monkeypatch):
    monkeypatch.setattr(show.time, "time", lambda: NOW)
    path, answers = answering
    lma_row = {"prefix": "2001:db8:8000::/64", "mag": "127.0.0.2", "registered": NOW - 5}
    answers.append(
        state(
            "lma",
            [
                {**lma_row, "mn": "a@x", "expires": NOW + 500, "deleting": False},
                {
                    **lma_row,
                    "mn": "b@x",
                    "expires": NOW + 500,
                    "deleting": True,
                    "delete_at": NOW + 7,
                },
            ],
            {},
        )
    )
    assert run_show(path, "all") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[4:6] == [
        f"  {'a@x':<28} {'2001:db8:8000::/64':<24} {'127.0.0.2':<16} {'registered':<14} 500 s",
        f"  {'b@x':<28} {'2001:db8:8000::/64':<24} {'127.0.0.2':<16} {'deleting':<14} 7 s",
    ]
    assert lines[-2:] == ["counters:", "  (none)"]

    mag_row = {"prefix": None, "lma": "127.0.0.1"}
    answers.append(
        state(
            "mag",
            [
                {**mag_row, "mn": "c@x", "state": "registering", "expires": NOW - 1},
                {**mag_row, "mn": "d@x", "state": "registered", "expires": NOW + 30},
            ],
            {"rx": 2},
        )
    )
    assert run_show(path, "bindings") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[4:6] == [
        f"  {'c@x':<28} {'-':<24} {'127.0.0.1':<16} {'registering':<14} -",
        f"  {'d@x':<28} {'-':<24} {'127.0.0.1':<16} {'registered':<14} 30 s",
    ]


def test_a_closed_pipe_ends_the_command_quietly(answering):
    path, answers = answering
    answers.append(state("lma", [], {f"counter_{i}": i for i in range(20000)}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "apmip.cli", "show", "counters", "--socket", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"LMA lma1 at 127.0.0.1, up 12 s\n"
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read()
    assert (proc.wait(timeout=60), err) == (141, b"")


def test_the_daemon_shows_when_a_deleted_binding_goes(tmp_path):
    lma, _ = daemon(tmp_path, LMA, "lma")
    lma.on_datagram(pbu(b"mn1@x", 1), ("127.0.0.2", 40001))
    lma.on_datagram(pbu(b"mn1@x", 2, lifetime=0), ("127.0.0.2", 40001))
    entry = lma.engine.cache[b"mn1@x"]
    assert entry.delete_at is not None
    row = lma._command({"op": "show"})["bindings"][0]
    assert (row["mn"], row["deleting"], row["delete_at"]) == ("mn1@x", True, entry.delete_at)


def test_detaching_an_unknown_mobile_node_is_refused(tmp_path):
    mag, transport = daemon(tmp_path, MAG, "mag")
    assert mag._command({"op": "detach", "mn": "nobody@x"}) == {
        "ok": False,
        "error": "nobody@x has no binding at this MAG",
    }
    assert mag._command({"op": "attach", "mn": "mn1@x"}) == {"ok": True}
    assert mag._command({"op": "detach", "mn": "mn1@x"}) == {"ok": True}
    assert len(transport.sent) == 2


def test_a_mobile_node_name_that_is_not_utf8_is_refused(tmp_path):
    mag, transport = daemon(tmp_path, MAG, "mag")
    for op in ("attach", "detach"):
        assert mag._command({"op": op, "mn": "\ud800@x"}) == {
            "ok": False,
            "error": "'mn' must be UTF-8 text",
        }
    assert transport.sent == []
