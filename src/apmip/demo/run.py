"""`apmip demo`: real daemons on loopback, a handover, and two refusals, as a timeline.

The demo starts every node of :mod:`apmip.demo.setup` as its own ``apmip lma`` / ``apmip mag``
process, subscribes to each one's event and protocol-trace stream over its control socket,
drives the mobile nodes through the MAGs' control sockets, and checks each step's outcome. It
exits 0 only when every step went as expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apmip.runtime.daemon import socket_request
from apmip.runtime.trace import one_line

from .setup import NODES, World, build_world

Record = dict[str, Any]
Check = Callable[[Record], bool]

WIFI, LTE = 4, 8  # Access Technology Type: IEEE 802.11a/b/g (RFC 5213 8.5), 3GPP E-UTRAN (IANA)
MN1, MN2, MN3 = "mn1@apmip.example", "mn2@apmip.example", "mn3@apmip.example"
STEP_TIMEOUT = 10.0


@dataclass
class Step:
    title: str
    node: str
    command: dict[str, Any]
    expect: list[tuple[str, str, Check]]
    forbid: list[tuple[str, str]] = field(default_factory=list)


def _kind(node: str, kind: str, check: Check | None = None) -> tuple[str, str, Check]:
    return (node, kind, check or (lambda record: True))


def _detail(record: Record) -> dict[str, Any]:
    detail = record.get("detail")
    return detail if isinstance(detail, dict) else {}


def steps(prefix: dict[str, str]) -> list[Step]:
    """The scenario; ``prefix`` is filled in by the first step and checked by the next."""

    def remember(record: Record) -> bool:
        prefix["mn1"] = _detail(record).get("prefix", "")
        return bool(prefix["mn1"])

    def same_prefix(record: Record) -> bool:
        return _detail(record).get("prefix") == prefix.get("mn1")

    def rejected(record: Record) -> bool:
        return _detail(record).get("verdict") == "reject"

    return [
        Step(
            f"{MN1} attaches over Wi-Fi at mag1: first contact, both sides attest",
            "mag1",
            {"op": "attach", "mn": MN1, "att": WIFI, "handoff": 1},
            [
                _kind("lma", "peer-appraised", lambda r: _detail(r).get("verdict") == "accept"),
                _kind("lma", "binding-created"),
                _kind("mag1", "peer-appraised", lambda r: _detail(r).get("verdict") == "accept"),
                _kind("mag1", "binding-established", remember),
            ],
        ),
        Step(
            f"{MN1} moves to LTE at mag2 and keeps its prefix",
            "mag2",
            {"op": "attach", "mn": MN1, "att": LTE, "handoff": 2},
            [
                _kind("lma", "binding-handover", same_prefix),
                _kind("mag2", "binding-established", same_prefix),
            ],
        ),
        Step(
            f"mag1 sees {MN1} leave; the LMA ignores the stale de-registration (RFC 5213 5.3.5)",
            "mag1",
            {"op": "detach", "mn": MN1},
            [_kind("lma", "dereg-ignored")],
            forbid=[("lma", "binding-deregistered")],
        ),
        Step(
            f"{MN1} detaches from mag2",
            "mag2",
            {"op": "detach", "mn": MN1},
            [_kind("lma", "binding-deregistered"), _kind("mag2", "binding-removed")],
        ),
        Step(
            f"{MN2} attaches at mag3, whose configuration changed after approval",
            "mag3",
            {"op": "attach", "mn": MN2, "att": WIFI, "handoff": 1},
            [
                _kind("lma", "peer-appraised", rejected),
                _kind("lma", "pbu-refused", lambda r: _detail(r).get("status") == 221),
                _kind("mag3", "refused-by-lma"),
            ],
            forbid=[("lma", "binding-created"), ("mag3", "binding-established")],
        ),
        Step(
            f"{MN3} attaches at mag4, whose LMA (lma2) runs a changed configuration",
            "mag4",
            {"op": "attach", "mn": MN3, "att": LTE, "handoff": 1},
            [
                _kind("mag4", "peer-appraised", rejected),
                _kind("mag4", "lma-refused"),
                _kind("lma2", "binding-deregistered"),
            ],
            forbid=[("mag4", "binding-established")],
        ),
    ]


class Demo:
    def __init__(
        self, world: World, out: Any = sys.stdout, clock: Callable[[], float] = time.time
    ) -> None:
        self.world = world
        self.out = out
        self.clock = clock  # the daemons' clock: events carry its time in "at"
        self.reported: set[str] = set()  # daemons whose exit was already shown
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.queue: asyncio.Queue[Record] = asyncio.Queue()
        self.readers: list[asyncio.Task[None]] = []
        # the writers must outlive the subscriptions: a collected writer closes its socket
        self.writers: list[asyncio.StreamWriter] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    # -- daemons --------------------------------------------------------------------------

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for spec in NODES:
            log = self.world.log(spec.name).open("wb")
            command = [
                sys.executable,
                "-m",
                "apmip.cli",
                "-v",
                spec.role,
                "--config",
                str(self.world.configs[spec.name]),
            ]
            self.procs[spec.name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
            log.close()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.procs)
        while pending:
            for name in sorted(pending):
                code = self.procs[name].poll()
                if code is not None:
                    self.reported.add(name)
                    raise RuntimeError(f"{name} exited with {code}:\n{self._tail(name)}")
                try:
                    answer = socket_request(self.world.control(name), {"op": "show"}, 1.0)
                except (OSError, ValueError):
                    continue
                if answer.get("ok"):
                    pending.discard(name)
            if time.monotonic() > deadline:
                names = ", ".join(sorted(pending))
                raise RuntimeError(f"not ready after {timeout:.0f} s: {names}")
            await asyncio.sleep(0.05)

    def _tail(self, name: str, lines: int = 15) -> str:
        try:
            text = self.world.log(name).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(f"    | {line}" for line in text[-lines:])

    async def subscribe(self) -> None:
        for spec in NODES:
            reader, writer = await asyncio.open_unix_connection(str(self.world.control(spec.name)))
            writer.write(json.dumps({"op": "events", "trace": True}).encode() + b"\n")
            await writer.drain()
            await reader.readline()  # {"ok": true, "streaming": ...}
            self.writers.append(writer)
            self.readers.append(asyncio.create_task(self._pump(reader)))

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            with contextlib.suppress(ValueError):
                await self.queue.put(json.loads(line))

    def stop(self) -> None:
        for task in self.readers:
            task.cancel()
        for writer in self.writers:
            writer.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15) and name not in self.reported:
                self.say(f"  ! {name} exited with {proc.returncode}:\n{self._tail(name)}")

    # -- steps ----------------------------------------------------------------------------

    async def run_step(self, number: int, step: Step) -> bool:
        self.say(f"\n[{number}] {step.title}")
        while not self.queue.empty():
            self.queue.get_nowait()
        start = self.clock()
        try:
            answer = socket_request(self.world.control(step.node), step.command)
        except (OSError, ValueError) as exc:
            answer = {"ok": False, "error": str(exc)}
        if not answer.get("ok"):
            self.say(f"  ✗ {step.node} refused the command: {answer.get('error')}")
            return False
        waiting = list(step.expect)
        seen: list[Record] = []
        last_expected = start
        deadline = time.monotonic() + STEP_TIMEOUT
        quiet_until: float | None = None
        while True:
            now = time.monotonic()
            limit = deadline if waiting else (quiet_until or now)
            if now >= limit:
                break
            try:
                record = await asyncio.wait_for(self.queue.get(), limit - now)
            except TimeoutError:
                break
            seen.append(record)
            for item in list(waiting):
                node, kind, check = item
                if record.get("node") == node and record.get("kind") == kind and check(record):
                    waiting.remove(item)
                    last_expected = max(last_expected, _at(record, start))
            if not waiting and quiet_until is None:
                quiet_until = time.monotonic() + 0.3  # let the step's last messages show
        # records come from several daemons; show them in the order they happened
        for record in sorted(seen, key=lambda r: _at(r, start)):
            self._print(record, start)
        ok = True
        for node, kind, _ in waiting:
            self.say(f"  ✗ expected `{kind}` at {node}, did not happen in {STEP_TIMEOUT:.0f} s")
            ok = False
        for node, kind in step.forbid:
            if any(r.get("node") == node and r.get("kind") == kind for r in seen):
                self.say(f"  ✗ `{kind}` at {node} must not happen in this step")
                ok = False
        if ok:
            took = (last_expected - start) * 1000
            self.say(f"  ✓ as expected ({took:.1f} ms to the last expected event)")
        return ok

    def _print(self, record: Record, start: float) -> None:
        at = (_at(record, start) - start) * 1000
        node, kind = record.get("node", "?"), record.get("kind", "?")
        if kind == "tx":
            peer = _name_of(record.get("peer", ""))
            self.say(f"  {at:+8.1f} ms  {node:>4} → {peer:<4}  {one_line(record['message'])}")
            return
        if kind == "rx":
            return
        detail = _detail(record)
        text = _event_text(kind, detail)
        if text:
            self.say(f"  {at:+8.1f} ms  {node:>4}         {text}")


def _at(record: Record, default: float) -> float:
    at = record.get("at")
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else default


def _name_of(address: str) -> str:
    for spec in NODES:
        if spec.address == address:
            return spec.name
    return address


def _event_text(kind: str, detail: dict[str, Any]) -> str:
    latency = detail.get("latency")
    took = f" in {latency * 1000:.1f} ms" if isinstance(latency, (int, float)) else ""
    if kind == "peer-appraised":
        return (
            f"appraisal: {str(detail.get('verdict')).upper()} ({detail.get('reason')}, "
            f"{detail.get('aspect')}): {detail.get('message')}"
        )
    if kind in ("binding-created", "binding-refreshed"):
        return f"{kind}: prefix {detail.get('prefix')} lifetime {detail.get('lifetime')} s"
    if kind == "binding-handover":
        previous = _name_of(str(detail.get("previous")))
        return f"binding-handover: prefix {detail.get('prefix')} moved from {previous}"
    if kind == "binding-established":
        return f"binding-established: prefix {detail.get('prefix')}{took}"
    if kind in ("pbu-refused", "refused-by-lma", "registration-failed"):
        return f"{kind}: status {detail.get('status')} {detail.get('reason', '')}{took}".rstrip()
    if kind == "lma-refused":
        return f"lma-refused: {detail.get('reason')}: {detail.get('message')}"
    if kind in (
        "binding-deregistered",
        "binding-removed",
        "dereg-ignored",
        "challenge-sent",
        "challenged",
        "dropped",
        "registration-timeout",
    ):
        words = [kind, *(f"{k}={v}" for k, v in detail.items() if k not in ("nonce", "latency"))]
        return " ".join(words) + took
    return ""


async def _main(world: World, out: Any) -> int:
    demo = Demo(world, out)
    results: list[bool] = []
    try:
        demo.start()
        await demo.wait_ready()
        await demo.subscribe()
        prefix: dict[str, str] = {}
        for number, step in enumerate(steps(prefix), 1):
            results.append(await demo.run_step(number, step))
    except (RuntimeError, OSError) as exc:
        demo.say(f"\napmip demo: {exc}")
        if not results:  # the daemons did not start: no step ran
            return 1
        results.append(False)
    finally:
        demo.stop()
    passed = sum(results)
    demo.say(f"\n{passed} of {len(results)} steps as expected")
    return 0 if results and all(results) else 1


def port_problem(port: int) -> str | None:
    """Why a daemon could not bind its address and ``port``, checked before any starts."""
    for spec in NODES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((spec.address, port))
            except OSError as exc:
                where = f"UDP {spec.address}:{port}"
                if exc.errno == errno.EADDRINUSE:
                    return f"{where} is already in use (another demo or daemon?)"
                return f"cannot bind {where}: {exc.strerror or exc}"
    return None


def run_demo(workdir: str | None, port: int, tpm: str, pcap: bool, keep: bool) -> int:
    """Entry point of `apmip demo`."""
    problem = port_problem(port)
    if problem is not None:
        print(
            f"apmip demo: {problem}; choose another port with --port, e.g. --port 15436",
            file=sys.stderr,
        )
        return 2
    if workdir is not None:
        root = Path(workdir).resolve()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            print(
                f"apmip demo: {root} is not an empty folder; give --workdir a new or empty "
                "folder (the demo writes a fresh PKI, configurations and logs there)",
                file=sys.stderr,
            )
            return 2
    else:
        root = Path(tempfile.mkdtemp(prefix="apmip-demo-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # captures are what --pcap asks for: keep the folder that holds them
    kept = keep or pcap or workdir is not None
    print(
        f"apmip demo: {len(NODES)} daemons on loopback UDP port {port} "
        f"(RFC 5844 transport), attester: {tpm}"
    )
    try:
        with contextlib.ExitStack() as stack:
            ak_public: dict[str, bytes] = {}
            tcti: dict[str, str] = {}
            if tpm == "swtpm":
                from .tpms import start_tpms

                tcti, ak_public = start_tpms(stack, root)
            world = build_world(root, port, tpm, ak_public, pcap, tcti)
            code = asyncio.run(_main(world, sys.stdout))
    except KeyboardInterrupt:
        if kept:
            print(f"\napmip demo: interrupted; the work folder is kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            print(f"\napmip demo: interrupted; removed {root}")
        return 130
    if code == 0 and not kept:
        shutil.rmtree(root, ignore_errors=True)
    elif pcap:
        print(f"captures in {root / 'run'} (NAME.pcap); logs, configurations, PKI: {root}")
    else:
        print(f"logs, configurations, certificates, reference values and captures: {root}")
    return code
