"""The asyncio daemon around one engine: UDP transport, timers, control socket, events.

It holds no protocol state of its own: every datagram, command and timer goes into the engine,
and what comes out (datagrams, events) is sent, logged, written to the capture and passed to
the control socket's subscribers. Transport is PMIPv6 over IPv4 UDP (RFC 5844 section 7.4,
port 5436), one daemon per loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TextIO

from apmip.core.events import Event, Output
from apmip.core.lma import LmaEngine
from apmip.core.mag import MagEngine
from apmip.errors import ApmipError

from .config import NodeConfig
from .trace import summarize

log = logging.getLogger(__name__)
trace = logging.getLogger("apmip.trace")

Engine = LmaEngine | MagEngine


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.daemon.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.daemon.engine.counters["socket_errors"] += 1
        log.warning("socket error: %s", exc)


class Daemon:
    """Runs one LMA or MAG engine until stopped."""

    def __init__(
        self,
        config: NodeConfig,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        capture: Any = None,
        startup_events: list[Event] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.capture = capture
        self._transport: asyncio.DatagramTransport | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._tracers: list[asyncio.Queue[dict[str, Any]]] = []
        self._event_file: TextIO | None = None
        self._startup_events = startup_events or []
        self.started = clock()

    # -- life cycle -----------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        if self.config.events is not None:
            self.config.events.parent.mkdir(parents=True, exist_ok=True)
            self._event_file = self.config.events.open("a", encoding="utf-8")
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.config.address, self.config.port)
        )
        self._transport = transport
        control = self.config.control
        control.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            control.unlink()
        server = await asyncio.start_unix_server(self._control, path=str(control))
        os.chmod(control, 0o660)
        log.warning(
            "%s %s listening on %s:%d (control %s)",
            self.config.role,
            self.config.name,
            self.config.address,
            self.config.port,
            control,
        )
        for event in self._startup_events:
            self._publish(event)
        self._publish(Event("ready", self.clock(), peer=self.config.address))
        timers = asyncio.create_task(self._timers())
        try:
            await self._stop.wait()
        finally:
            timers.cancel()
            server.close()
            transport.close()
            with contextlib.suppress(FileNotFoundError):
                control.unlink()
            if self._event_file is not None:
                self._event_file.close()
            if self.capture is not None:
                self.capture.close()
            log.warning("%s %s stopped", self.config.role, self.config.name)

    def stop(self) -> None:
        self._stop.set()

    async def _timers(self) -> None:
        while True:
            deadline = self.engine.next_deadline()
            timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - self.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            try:
                output = self.engine.poll(self.clock())
            except Exception:  # as for datagrams: count, log, keep the daemon running
                self.engine.counters["internal_errors"] += 1
                log.exception("internal error in the timers")
                await asyncio.sleep(0.5)
                continue
            self._apply(output)

    # -- data -----------------------------------------------------------------------------

    def on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        host, port = addr[0], addr[1]
        now = self.clock()
        self._record(data, (host, port), (self.config.address, self.config.port), now)
        trace.debug("rx %d bytes from %s:%d", len(data), host, port)
        self._trace("rx", host, data, now)
        try:
            output = self.engine.receive(data, host, now)
        except Exception:  # the engine must never take the daemon down; keep and count it
            self.engine.counters["internal_errors"] += 1
            log.exception("internal error handling %d bytes from %s", len(data), host)
            return
        self._apply(output, (host, port))

    def _port_for(self, peer: str, cause: tuple[str, int] | None) -> int:
        """The UDP port a datagram to ``peer`` goes to.

        RFC 5844 section 7.4: an LMA answers to the source port of the PBU it answers (the
        MAG may sit behind a NAT). A MAG always sends to its configured LMA port: the source
        port of whatever arrived from that address proves nothing.
        """
        if isinstance(self.engine, LmaEngine) and cause is not None and cause[0] == peer:
            return cause[1]
        return self.config.mag_ports.get(peer, self.config.port)

    def _apply(self, output: Output, cause: tuple[str, int] | None = None) -> None:
        for datagram in output.datagrams:
            port = self._port_for(datagram.peer, cause)
            if self._transport is not None:
                self._transport.sendto(datagram.data, (datagram.peer, port))
            self._record(
                datagram.data,
                (self.config.address, self.config.port),
                (datagram.peer, port),
                self.clock(),
            )
            trace.debug("tx %d bytes to %s:%d", len(datagram.data), datagram.peer, port)
            self._trace("tx", datagram.peer, datagram.data, self.clock())
        for event in output.events:
            self._publish(event)
        if output.datagrams or output.events:
            self._wake.set()

    def _record(self, data: bytes, src: tuple[str, int], dst: tuple[str, int], now: float) -> None:
        if self.capture is None:
            return
        try:
            self.capture.write_udp(
                ip_address(src[0]), ip_address(dst[0]), src[1], dst[1], data, now
            )
        except (ApmipError, OSError, ValueError) as exc:
            # losing the capture must not cost a binding: stop capturing, say so once
            self.engine.counters["capture_errors"] += 1
            log.error("capture to %s stopped: %s", self.config.pcap, exc)
            self.capture = None

    def _trace(self, direction: str, peer: str, data: bytes, now: float) -> None:
        """Protocol trace for subscribers that asked for it (a separate, structured stream)."""
        if not self._tracers:
            return
        record = {
            "node": self.config.name,
            "kind": direction,
            "at": now,
            "peer": peer,
            "message": summarize(data, self.config.trust.vendor_id),
        }
        for queue in self._tracers:
            queue.put_nowait(record)

    def _publish(self, event: Event) -> None:
        record = {"node": self.config.name, **asdict(event)}
        level = logging.WARNING if _is_refusal(event) else logging.INFO
        log.log(level, "%s: %s", self.config.name, event.describe())
        if self._event_file is not None:
            self._event_file.write(json.dumps(record, default=str) + "\n")
            self._event_file.flush()
        for queue in self._subscribers:
            queue.put_nowait(record)

    # -- control socket -------------------------------------------------------------------

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                except ValueError as exc:
                    await _write(writer, {"ok": False, "error": f"bad request: {exc}"})
                    continue
                if request.get("op") == "events":
                    await self._stream_events(writer, bool(request.get("trace")))
                    return
                if request.get("wait") and request.get("op") in ("attach", "detach"):
                    await _write(writer, await self._command_and_wait(request))
                    continue
                await _write(writer, self._command(request))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _stream_events(self, writer: asyncio.StreamWriter, with_trace: bool) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        if with_trace:
            self._tracers.append(queue)
        try:
            await _write(writer, {"ok": True, "streaming": "events"})
            while True:
                await _write(writer, await queue.get())
        finally:
            self._subscribers.remove(queue)
            if with_trace:
                self._tracers.remove(queue)

    async def _command_and_wait(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run attach/detach and answer with the event that ends it (or a timeout)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            answer = self._command(request)
            if not answer.get("ok"):
                return answer
            timeout = request.get("timeout", 10.0)
            if not isinstance(timeout, int | float) or not 0 < timeout <= 300:
                return {"ok": False, "error": "'timeout' must be a number of seconds, 0..300"}
            deadline = self.clock() + float(timeout)
            while (left := deadline - self.clock()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if event.get("mn") == request["mn"] and event.get("kind") in _OUTCOMES:
                    return {"ok": True, "outcome": event}
            return {"ok": False, "error": f"no outcome within {timeout} s"}
        finally:
            self._subscribers.remove(queue)

    def _command(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        now = self.clock()
        if op == "show":
            snapshot = self.engine.snapshot()
            snapshot.update(name=self.config.name, uptime=now - self.started)
            return {"ok": True, **snapshot}
        if op == "stop":
            self._stop.set()
            return {"ok": True}
        if isinstance(self.engine, MagEngine) and op in ("attach", "detach"):
            mn = request.get("mn")
            if not isinstance(mn, str) or not mn:
                return {"ok": False, "error": "'mn' must be a non-empty string"}
            if op == "attach":
                att = request.get("att", 4)
                handoff = request.get("handoff", 1)
                if not isinstance(att, int) or not isinstance(handoff, int):
                    return {"ok": False, "error": "'att' and 'handoff' must be integers"}
                try:
                    output = self.engine.attach(mn.encode(), att, now, handoff)
                except Exception as exc:  # a bad command is the operator's, not fatal
                    return {"ok": False, "error": str(exc)}
            else:
                output = self.engine.detach(mn.encode(), now)
            self._apply(output)
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r} for a {self.config.role}"}


async def _write(writer: asyncio.StreamWriter, record: dict[str, Any]) -> None:
    writer.write(json.dumps(record, default=str).encode() + b"\n")
    await writer.drain()


# events that end an attach or a detach at a MAG
_OUTCOMES = frozenset(
    {
        "binding-established",
        "binding-refreshed",
        "binding-removed",
        "refused-by-lma",
        "lma-refused",
        "registration-failed",
        "registration-timeout",
        "detach-unknown",
    }
)


def _is_refusal(event: Event) -> bool:
    return event.kind in ("pbu-refused", "lma-refused", "refused-by-lma", "dropped") or (
        event.kind == "peer-appraised" and event.detail.get("verdict") == "reject"
    )


def socket_request(
    path: Path | str, request: dict[str, Any], timeout: float = 5.0
) -> dict[str, Any]:
    """Send one request to a daemon's control socket (blocking; for the CLI)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ValueError(f"{path} closed the connection without an answer")
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise ValueError("control socket answered something other than a JSON object")
    return answer
