"""The control socket: whose path it is, what it answers to abuse, and a clean stop."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apmip.runtime.daemon import socket_request

from .test_demo import free_udp_port

pytestmark = pytest.mark.slow

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")

PLAIN = """
[node]
name = "mag1"
address = "127.0.0.2"
port = {port}
control = "{control}"

[mag]
lma = "127.0.0.1"

[attestation]
enabled = false
"""


def write_config(folder: Path, control: str = "mag1.sock") -> Path:
    path = folder / "mag1.toml"
    path.write_text(PLAIN.format(port=free_udp_port(), control=control))
    return path


def start(path: Path) -> subprocess.Popen[str]:
    """A MAG daemon, ready to answer on its control socket."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "apmip.cli", "mag", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    control = path.parent / "mag1.sock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if socket_request(control, {"op": "show"}, 1.0)["ok"]:
                return proc
        except (OSError, ValueError):
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon not ready")


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """SIGTERM the daemon; its log lines without the time stamps."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    # "2026-01-01 10:00:00,000 LEVEL name: message" -> "LEVEL name: message"
    return [STAMP.sub("", line) for line in err.splitlines()]


def run_mag(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apmip.cli", "mag", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_regular_file_at_the_control_path_is_refused_and_kept(tmp_path):
    path = write_config(tmp_path, control="important.txt")
    (tmp_path / "important.txt").write_text("keep me\n")
    done = run_mag(path)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"apmip mag: configuration error: {path}: node.control: {tmp_path}/important.txt "
        "exists and is not a socket (fix: give `control` a path of its own in [node], "
        "or move that file away)",
    )
    assert (tmp_path / "important.txt").read_text() == "keep me\n"


def test_a_second_daemon_on_the_same_control_socket_is_refused(tmp_path):
    path = write_config(tmp_path)
    first = start(path)
    try:
        done = run_mag(path)
        assert (done.returncode, done.stderr.strip()) == (
            2,
            f"apmip mag: configuration error: {path}: node.control: {tmp_path}/mag1.sock is "
            "already in use by a running daemon (fix: stop that daemon, or give `control` a "
            "path of its own in [node])",
        )
        assert socket_request(tmp_path / "mag1.sock", {"op": "show"})["name"] == "mag1"
    finally:
        stop(first)


def test_a_stale_socket_is_replaced(tmp_path):
    path = write_config(tmp_path)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "mag1.sock"))
    stale.close()  # the file stays, nobody listens
    proc = start(path)
    assert socket_request(tmp_path / "mag1.sock", {"op": "show"})["ok"] is True
    stop(proc)
    assert not (tmp_path / "mag1.sock").exists()


def test_at_exit_a_daemon_leaves_a_socket_that_is_no_longer_its_own(tmp_path):
    path = write_config(tmp_path)
    proc = start(path)
    control = tmp_path / "mag1.sock"
    control.rename(tmp_path / "moved.sock")
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(control))
    try:
        stop(proc)
        assert control.exists()
        assert (tmp_path / "moved.sock").exists()
    finally:
        other.close()


def exchange(control: Path, payload: bytes) -> tuple[list[dict], bool]:
    """Send raw bytes; the answers and whether the daemon closed the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(control))
        sock.sendall(payload)
        data = b""
        closed = False
        try:
            while chunk := sock.recv(65536):
                data += chunk
            closed = True
        except TimeoutError:
            pass
    return [json.loads(line) for line in data.splitlines()], closed


def test_abusive_requests_are_answered_once_and_the_connection_closed(tmp_path):
    path = write_config(tmp_path)
    proc = start(path)
    control = tmp_path / "mag1.sock"
    try:
        assert exchange(control, b"x" * 70000 + b"\n") == (
            [{"ok": False, "error": "bad request: request longer than 65536 bytes"}],
            True,
        )
        assert exchange(control, b"[" * 30000 + b"\n") == (
            [{"ok": False, "error": "bad request: request nested too deeply"}],
            True,
        )
        assert socket_request(control, {"op": "attach", "mn": "mn1@x", "att": True}) == {
            "ok": False,
            "error": "'att' and 'handoff' must be integers",
        }
        assert socket_request(control, {"op": "attach", "mn": "mn1@x", "handoff": False}) == {
            "ok": False,
            "error": "'att' and 'handoff' must be integers",
        }
        answer = socket_request(
            control, {"op": "detach", "mn": "mn1@x", "wait": True, "timeout": True}
        )
        assert answer == {"ok": False, "error": "'timeout' must be a number of seconds, 0..300"}
        assert socket_request(control, {"op": "show"})["counters"] == {}
    finally:
        lines = stop(proc)
    assert lines == [
        f"WARNING apmip.runtime.daemon: mag mag1 listening on 127.0.0.2:{_port(path)} "
        f"(control {control})",
        "WARNING apmip.runtime.daemon: control socket: request longer than 65536 bytes; "
        "connection closed",
        "WARNING apmip.runtime.daemon: control socket: request nested too deeply; "
        "connection closed",
        "WARNING apmip.runtime.daemon: mag mag1 stopped",
    ]


def test_a_stop_with_event_subscribers_logs_no_error(tmp_path):
    path = write_config(tmp_path)
    proc = start(path)
    control = tmp_path / "mag1.sock"
    subscribers = []
    for trace in (False, True):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(control))
        sock.sendall(json.dumps({"op": "events", "trace": trace}).encode() + b"\n")
        assert json.loads(sock.recv(4096)) == {"ok": True, "streaming": "events"}
        subscribers.append(sock)
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(str(control))
    try:
        lines = stop(proc)
        for sock in [*subscribers, idle]:
            sock.settimeout(10)
            assert sock.recv(4096) == b""  # closed by the daemon, not left hanging
    finally:
        for sock in [*subscribers, idle]:
            sock.close()
    assert lines == [
        f"WARNING apmip.runtime.daemon: mag mag1 listening on 127.0.0.2:{_port(path)} "
        f"(control {control})",
        "WARNING apmip.runtime.daemon: mag mag1 stopped",
    ]


def _port(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1])
    raise AssertionError("no port")


def test_a_control_path_too_long_for_a_unix_socket(tmp_path):
    name = "c" * 120 + ".sock"
    path = write_config(tmp_path, control=name)
    done = run_mag(path)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"apmip mag: configuration error: {path}: node.control: cannot listen on "
        f"{tmp_path}/{name}: AF_UNIX path too long (fix: give a short path (at most 107 "
        "bytes) in a folder this daemon may write)",
    )
