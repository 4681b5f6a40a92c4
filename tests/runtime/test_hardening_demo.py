"""`apmip demo` around its steps: a taken port, a used work folder, captures, Ctrl-C, and how
a step's records and time are reported."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import pytest

from apmip.demo import run
from apmip.demo.setup import World

from .test_demo import free_udp_port


def test_a_port_in_use_is_named_once_with_the_way_out(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        assert run.run_demo(None, port, "software", False, False) == 2
    assert capsys.readouterr() == (
        "",
        f"apmip demo: UDP 127.0.0.1:{port} is already in use (another demo or daemon?); "
        "choose another port with --port, e.g. --port 15436\n",
    )


def test_a_work_folder_that_is_not_empty_is_refused(tmp_path, capsys):
    (tmp_path / "pki").mkdir()
    assert run.run_demo(str(tmp_path), free_udp_port(), "software", False, False) == 2
    assert capsys.readouterr() == (
        "",
        f"apmip demo: {tmp_path} is not an empty folder; give --workdir a new or empty "
        "folder (the demo writes a fresh PKI, configurations and logs there)\n",
    )
    assert [p.name for p in tmp_path.iterdir()] == ["pki"]


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder run_demo takes for its temporary work folder."""
    root = tmp_path / "apmip-demo-x"
    root.mkdir()
    original = run.tempfile.mkdtemp

    def mkdtemp(prefix: str) -> str:
        return str(root) if prefix == "apmip-demo-" else original(prefix=prefix)

    monkeypatch.setattr(run.tempfile, "mkdtemp", mkdtemp)
    return root


def finishing(code: int | None):
    async def main(world: World, out: object) -> int:
        if code is None:
            raise KeyboardInterrupt
        return code

    return main


def test_pcap_keeps_the_temporary_folder_and_says_where(temp_root, capsys, monkeypatch):
    monkeypatch.setattr(run, "_main", finishing(0))
    port = free_udp_port()
    assert run.run_demo(None, port, "software", True, False) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        f"captures in {temp_root}/run (NAME.pcap); logs, configurations, PKI: {temp_root}"
    )
    assert 'pcap = "run/lma.pcap"' in (temp_root / "lma.toml").read_text()


def test_without_pcap_the_temporary_folder_goes(temp_root, capsys, monkeypatch):
    monkeypatch.setattr(run, "_main", finishing(0))
    assert run.run_demo(None, free_udp_port(), "software", False, False) == 0
    assert not temp_root.exists()


@pytest.mark.parametrize(
    ("keep", "last"), [(False, "removed {root}"), (True, "the work folder is kept: {root}")]
)
def test_ctrl_c_cleans_up_or_says_where(temp_root, capsys, monkeypatch, keep, last):
    monkeypatch.setattr(run, "_main", finishing(None))
    assert run.run_demo(None, free_udp_port(), "software", False, keep) == 130
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "apmip demo: interrupted; " + last.format(root=temp_root)
    assert temp_root.exists() is keep


def test_a_step_prints_its_records_in_time_order_and_times_the_expected_ones(
    tmp_path, monkeypatch
):
    out = io.StringIO()
    demo = run.Demo(World(tmp_path, 1, "software"), out, clock=lambda: 1000.0)
    records = [
        {
            "node": "lma",
            "kind": "binding-created",
            "at": 1000.008,
            "detail": {"prefix": "2001:db8:8000::/64", "lifetime": 60},
        },
        {"node": "mag1", "kind": "binding-removed", "at": 1000.050, "detail": {}},
        {
            "node": "mag1",
            "kind": "binding-established",
            "at": 1000.012,
            "detail": {"prefix": "2001:db8:8000::/64"},
        },
        {"node": "lma", "kind": "challenge-sent", "at": 1000.001, "detail": {}},
    ]

    def command(path: Path, request: dict) -> dict:
        for record in records:
            demo.queue.put_nowait(record)
        return {"ok": True}

    monkeypatch.setattr(run, "socket_request", command)
    step = run.Step(
        "attach",
        "mag1",
        {"op": "attach", "mn": "mn1@x"},
        [run._kind("lma", "binding-created"), run._kind("mag1", "binding-established")],
    )
    assert asyncio.run(demo.run_step(1, step)) is True
    assert out.getvalue().splitlines() == [
        "",
        "[1] attach",
        "      +1.0 ms   lma         challenge-sent",
        "      +8.0 ms   lma         binding-created: prefix 2001:db8:8000::/64 lifetime 60 s",
        "     +12.0 ms  mag1         binding-established: prefix 2001:db8:8000::/64",
        "     +50.0 ms  mag1         binding-removed",
        "  ✓ as expected (12.0 ms to the last expected event)",
    ]
