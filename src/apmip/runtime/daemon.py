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
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import asdict
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TextIO

from apmip.core.common import mn_label
from apmip.core.events import Event, Output
from apmip.core.lma import LmaEngine
from apmip.core.mag import MagEngine
from apmip.errors import ApmipError, ConfigError

from .config import NodeConfig
from .trace import summarize

log = logging.getLogger(__name__)
trace = logging.getLogger("apmip.trace")

Engine = LmaEngine | MagEngine

MAX_REQUEST = 65536  # bytes in one control request line


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
        # a queue receives None when the daemon stops
        self._subscribers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._tracers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._event_budget: dict[tuple[str, str], tuple[float, int]] = {}
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._control_id: tuple[int, int] | None = None
        self._closing = False
        self._event_file: TextIO | None = None
        self._startup_events = startup_events or []
        self.started = clock()

    # -- life cycle -----------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        control = self.config.control
        self._check_control()
        self._open_event_file()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.config.address, self.config.port)
        )
        self._transport = transport
        try:
            control.parent.mkdir(parents=True, exist_ok=True)
            server = await asyncio.start_unix_server(
                self._control, path=str(control), limit=MAX_REQUEST
            )
        except OSError as exc:
            transport.close()
            raise ConfigError(
                str(self.config.path),
                "node.control",
                f"cannot listen on {control}: {exc.strerror or exc}",
                "give a short path (at most 107 bytes) in a folder this daemon may write",
            ) from exc
        made = os.stat(control)
        self._control_id = (made.st_dev, made.st_ino)
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
            await self._close_clients()
            transport.close()
            self._remove_control()
            if self._event_file is not None:
                self._event_file.close()
            if self.capture is not None:
                self.capture.close()
            log.warning("%s %s stopped", self.config.role, self.config.name)

    def stop(self) -> None:
        self._stop.set()

    def _check_control(self) -> None:
        """Refuse a control path that is not ours to take: a file that is not a socket, or
        the socket of a daemon that still answers; a stale socket is replaced."""
        path = self.config.control
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            return
        fix = "give `control` a path of its own in [node]"
        if not stat.S_ISSOCK(found.st_mode):
            raise ConfigError(
                str(self.config.path),
                "node.control",
                f"{path} exists and is not a socket",
                f"{fix}, or move that file away",
            )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                path.unlink()  # stale: its daemon is gone
                return
            except OSError as exc:
                raise ConfigError(
                    str(self.config.path), "node.control", f"{path}: {exc}", fix
                ) from exc
        raise ConfigError(
            str(self.config.path),
            "node.control",
            f"{path} is already in use by a running daemon",
            f"stop that daemon, or {fix}",
        )

    def _remove_control(self) -> None:
        """Remove the control socket only if it is still the one this daemon made."""
        try:
            found = os.lstat(self.config.control)
        except FileNotFoundError:
            return
        if (found.st_dev, found.st_ino) == self._control_id:
            self.config.control.unlink()

    def _open_event_file(self) -> None:
        path = self.config.events
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._event_file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                str(self.config.path),
                "node.events",
                f"cannot write {path}: {exc.strerror or exc}",
                "give the path of a file this daemon may write",
            ) from exc

    async def _close_clients(self) -> None:
        """End every control connection so that none is cancelled mid-way at exit."""
        self._closing = True
        # connections accepted just before the server closed start now and see _closing
        await asyncio.sleep(0)
        for queue in self._subscribers:
            queue.put_nowait(None)
        for writer in self._clients.values():
            writer.close()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=2.0)

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
            # the time of sending, taken before the capture's write delays it
            sent = self.clock()
            if self._transport is not None:
                self._transport.sendto(datagram.data, (datagram.peer, port))
            self._record(
                datagram.data, (self.config.address, self.config.port), (datagram.peer, port), sent
            )
            trace.debug("tx %d bytes to %s:%d", len(datagram.data), datagram.peer, port)
            self._trace("tx", datagram.peer, datagram.data, sent)
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
        for queue in list(self._tracers):
            self._offer(queue, record)

    def _publish(self, event: Event) -> None:
        if self._flooding(event):
            return
        record = {"node": self.config.name, **asdict(event)}
        level = logging.WARNING if _is_refusal(event) else logging.INFO
        log.log(level, "%s: %s", self.config.name, event.describe())
        if self._event_file is not None:
            self._event_file.write(json.dumps(record, default=str) + "\n")
            self._event_file.flush()
        for queue in list(self._subscribers):
            self._offer(queue, record)

    def _flooding(self, event: Event) -> bool:
        """Whether an event a peer can cause at will (a dropped or refused message) goes past
        EVENT_BURST a minute for that peer and kind: then it is only counted, so a flood of
        bad packets fills neither the log, nor the event file, nor a subscriber."""
        if event.kind not in _PEER_CAUSED or not event.peer:
            return False
        key = (event.peer, event.kind)
        start, count = self._event_budget.get(key, (event.at, 0))
        if event.at - start >= 60.0:
            start, count = event.at, 0
        if len(self._event_budget) >= 4096 and key not in self._event_budget:
            self._event_budget.clear()
        self._event_budget[key] = (start, count + 1)
        if count == EVENT_BURST:
            log.warning(
                "%s: more %s events from %s in this minute are only counted",
                self.config.name,
                event.kind,
                event.peer,
            )
        if count >= EVENT_BURST:
            self.engine.counters["events_suppressed"] += 1
            return True
        return False

    def _offer(self, queue: asyncio.Queue[dict[str, Any] | None], record: dict[str, Any]) -> None:
        """Hand a record to a subscriber; one that stopped reading is disconnected rather
        than allowed to grow the daemon's memory."""
        if queue.qsize() < SUBSCRIBER_BACKLOG:
            queue.put_nowait(record)
            return
        log.warning(
            "%s: an event subscriber fell %d records behind; disconnected",
            self.config.name,
            SUBSCRIBER_BACKLOG,
        )
        for group in (self._subscribers, self._tracers):
            if queue in group:
                group.remove(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    # -- control socket -------------------------------------------------------------------

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._closing:
            writer.close()
            return
        if task is not None:
            self._clients[task] = writer
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a client must never reach the event loop's error handler
            log.warning("control connection closed after an internal error: %r", exc)
        finally:
            writer.close()
            if task is not None:
                self._clients.pop(task, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # asyncio's limit: the line has no end within MAX_REQUEST
                await self._refuse(writer, f"request longer than {MAX_REQUEST} bytes")
                return
            if not line:
                return
            try:
                request = json.loads(line)
            except RecursionError:
                await self._refuse(writer, "request nested too deeply")
                return
            except ValueError as exc:
                await _write(writer, {"ok": False, "error": f"bad request: {exc}"})
                continue
            if not isinstance(request, dict):
                await _write(writer, {"ok": False, "error": "bad request: not a JSON object"})
                continue
            if request.get("op") == "events":
                await self._stream_events(writer, bool(request.get("trace")))
                return
            if request.get("wait") and request.get("op") in ("attach", "detach"):
                await _write(writer, await self._command_and_wait(request))
                continue
            await _write(writer, self._command(request))

    async def _refuse(self, writer: asyncio.StreamWriter, problem: str) -> None:
        """Answer an abusive request once and end the connection."""
        log.warning("control socket: %s; connection closed", problem)
        await _write(writer, {"ok": False, "error": f"bad request: {problem}"})

    async def _stream_events(self, writer: asyncio.StreamWriter, with_trace: bool) -> None:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.append(queue)
        if with_trace:
            self._tracers.append(queue)
        try:
            await _write(writer, {"ok": True, "streaming": "events"})
            while (record := await queue.get()) is not None:
                await _write(writer, record)
        finally:
            for group in (self._subscribers, self._tracers):
                if queue in group:
                    group.remove(queue)

    async def _command_and_wait(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run attach/detach and answer with the event that ends it (or a timeout)."""
        timeout = request.get("timeout", 10.0)
        if _not_a_number(timeout) or not 0 < timeout <= 300:
            return {"ok": False, "error": "'timeout' must be a number of seconds, 0..300"}
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            answer = self._command(request)
            if not answer.get("ok"):
                return answer
            deadline = self.clock() + float(timeout)
            while (left := deadline - self.clock()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if event is None:
                    return {"ok": False, "error": "the daemon is stopping"}
                if event.get("mn") == request["mn"] and event.get("kind") in _OUTCOMES:
                    return {"ok": True, "outcome": event}
            return {"ok": False, "error": f"no outcome within {timeout} s"}
        finally:
            if queue in self._subscribers:
                self._subscribers.remove(queue)

    def _snapshot(self, now: float) -> dict[str, Any]:
        snapshot = self.engine.snapshot()
        snapshot.update(name=self.config.name, uptime=now - self.started)
        _snapshot_extras(self.engine, snapshot)
        return snapshot

    def _command(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        now = self.clock()
        if op == "show":
            return {"ok": True, **self._snapshot(now)}
        if op == "stop":
            self._stop.set()
            return {"ok": True}
        if isinstance(self.engine, MagEngine) and op in ("attach", "detach"):
            mn = request.get("mn")
            if not isinstance(mn, str) or not mn:
                return {"ok": False, "error": "'mn' must be a non-empty string"}
            try:
                mn.encode()
            except UnicodeEncodeError:
                return {"ok": False, "error": "'mn' must be UTF-8 text"}
            if op == "attach":
                att = request.get("att", 4)
                handoff = request.get("handoff", 1)
                if _not_an_integer(att) or _not_an_integer(handoff):
                    return {"ok": False, "error": "'att' and 'handoff' must be integers"}
                try:
                    output = self.engine.attach(mn.encode(), att, now, handoff)
                except Exception as exc:  # a bad command is the operator's, not fatal
                    return {"ok": False, "error": str(exc)}
                self._apply(output)
                return {"ok": True}
            known = mn.encode() in self.engine.bul
            self._apply(self.engine.detach(mn.encode(), now))
            if not known:
                return {"ok": False, "error": f"{mn} has no binding at this MAG"}
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r} for a {self.config.role}"}


def _not_an_integer(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_a_number(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def _snapshot_extras(engine: Engine, snapshot: dict[str, Any]) -> None:
    """What `apmip show` needs beyond the engine's own snapshot."""
    if isinstance(engine, LmaEngine):
        # the snapshot only says an entry is being deleted; show needs when
        delete_at = {mn_label(e.mn_id): e.delete_at for e in engine.cache.values()}
        for row in snapshot["bindings"]:
            row.setdefault("delete_at", delete_at.get(row.get("mn")))
    evictions = getattr(engine.trust, "evictions", 0)
    if evictions:
        snapshot["counters"]["trust_evictions"] = evictions


async def _write(writer: asyncio.StreamWriter, record: dict[str, Any]) -> None:
    writer.write(json.dumps(record, default=str).encode() + b"\n")
    await writer.drain()


# records a subscriber may fall behind before it is disconnected
SUBSCRIBER_BACKLOG = 10000
# events per minute per peer and kind, for the kinds a peer can cause at will
EVENT_BURST = 20
_PEER_CAUSED = frozenset(
    {"dropped", "pbu-refused", "challenge-sent", "dereg-ignored", "peer-appraised"}
)

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
    # "dropped" is not here: the engine already warned about it, limited per source
    return event.kind in ("pbu-refused", "lma-refused", "refused-by-lma") or (
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
