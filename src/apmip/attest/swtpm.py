"""swtpm as a lab and test TPM: start it, talk to its control channel, stop it.

:class:`SwtpmProcess` runs ``swtpm socket --tpm2`` on two loopback TCP ports (the TPM command
port P and the control port P+1) with its state in a directory, so a test, the demo or an
operator's lab gets a TPM 2.0 without hardware. It also simulates the two TPM life-cycle events
the verifier must tell apart from tampering (TPM 2.0 Part 1, "Timing Components", and Part 3,
TPM2_Startup):

- :meth:`SwtpmProcess.power_cycle`: the process stops and starts again on the same state, and
  swtpm sends TPM2_Startup(CLEAR): a TPM Reset, resetCount + 1, restartCount 0, PCRs cleared.
- :meth:`SwtpmProcess.restart_tpm`: TPM2_Shutdown(STATE), then the control channel's INIT
  (what a platform reset looks like to the TPM, ``swtpm_ioctl -i``), then
  TPM2_Startup(STATE): a TPM Resume, restartCount + 1, PCRs and resetCount kept.

This module is part of the runtime side of ``attest``: it owns a process, sockets and the
clock, and must not be imported by the sans-I/O core. It needs neither tpm2-pytss nor pytest:
the few TPM commands it sends are written here by hand (TPM 2.0 Part 3).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import subprocess
import time
import weakref
from pathlib import Path
from types import TracebackType

from apmip.errors import TpmError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT = 10.0  # seconds until a started swtpm must answer on both ports
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
IO_TIMEOUT = 5.0  # seconds for one command on either port

# swtpm control channel commands (swtpm's tpm_ioctl.h, the "non-CUSE" numbering)
CMD_GET_CAPABILITY = 0x01
CMD_INIT = 0x02

# TPM 2.0 Part 2: TPM_ST_NO_SESSIONS, command codes, startup types
TPM_ST_NO_SESSIONS = 0x8001
TPM_CC_STARTUP = 0x00000144
TPM_CC_SHUTDOWN = 0x00000145
TPM_SU_CLEAR = 0x0000
TPM_SU_STATE = 0x0001
TPM_RC_INITIALIZE = 0x00000100


def _port_free(port: int) -> bool:
    """Can a listener bind this loopback port? Connections lingering in TIME_WAIT from a swtpm
    just stopped do not count (SO_REUSEADDR, as a restarted server would bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A loopback port P with P+1 also free at the time of asking (P even, P+1 < 65536)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port < 65535 and _port_free(port + 1):
            return port
    raise TpmError("swtpm: found no two consecutive free loopback TCP ports in 50 tries")


def swtpm_binary(name: str = "swtpm") -> str:
    """The swtpm executable's path, or a TpmError that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise TpmError(
            f"swtpm: the {name!r} executable is not on PATH; install it "
            "(Debian: apt-get install swtpm swtpm-tools) or use the software attester"
        )
    return path


class SwtpmProcess:
    """One swtpm TPM 2.0 on loopback, as a context manager.

    ``state_dir`` holds the TPM's non-volatile state (created if missing; reuse it to keep the
    same endorsement seed and therefore the same attestation key). ``port`` is the TPM command
    port; the control channel listens on ``port + 1``. Without ``port`` a free pair is chosen.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        binary: str = "swtpm",
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.state_dir = Path(state_dir)
        self._fixed_port = port
        self._binary = binary
        self._start_timeout = start_timeout
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.state_dir / "swtpm.log"
        self._log_start = 0
        self._reaper: weakref.finalize[[subprocess.Popen[bytes]], SwtpmProcess] | None = None

    # -- life cycle --

    @property
    def ctrl_port(self) -> int:
        return self.port + 1

    @property
    def tcti(self) -> str:
        """The TCTI configuration string for tpm2-tss, tpm2-tools and tpm2-pytss."""
        if not self.port:
            raise TpmError("swtpm: not started, no port assigned yet")
        return f"swtpm:host={HOST},port={self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> SwtpmProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start swtpm and wait until both ports answer. A free port pair is chosen anew if
        another process took the chosen one between asking and binding."""
        if self.running:
            raise TpmError(f"swtpm: already running as pid {self.pid} on port {self.port}")
        binary = swtpm_binary(self._binary)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TpmError(
                f"swtpm: cannot create state directory {self.state_dir}: {exc}"
            ) from exc
        # a restart (power_cycle) keeps the ports so TCTI strings handed out stay valid
        keep = bool(self._fixed_port or self.port)
        attempts = 1 if keep else 5
        for attempt in range(1, attempts + 1):
            if not keep:
                self.port = free_port_pair()
            try:
                self._spawn(binary)
                return
            except TpmError as exc:
                if attempt == attempts or "in use" not in str(exc):
                    raise
                log.debug("swtpm: port %d taken meanwhile, trying another pair", self.port)

    def _spawn(self, binary: str) -> None:
        # another swtpm on these ports would answer the readiness probe in our stead
        for port in (self.port, self.ctrl_port):
            if not _port_free(port):
                raise TpmError(f"swtpm: loopback TCP port {port} is already in use")
        argv = [
            binary,
            "socket",
            "--tpm2",
            "--server",
            f"type=tcp,port={self.port},bindaddr={HOST}",
            "--ctrl",
            f"type=tcp,port={self.ctrl_port},bindaddr={HOST}",
            "--tpmstate",
            f"dir={self.state_dir}",
            # not-need-init: no INIT on the control channel first; startup-clear: swtpm
            # itself sends TPM2_Startup(CLEAR), as platform firmware would at boot
            "--flags",
            "not-need-init,startup-clear",
        ]
        if self._reaper is not None:
            self._reaper.detach()
        with self._log_path.open("ab") as out:
            self._log_start = out.tell()
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        # a forgotten SwtpmProcess (no stop(), no with-block) must not leave swtpm running
        # after it is collected or the interpreter exits
        self._reaper = weakref.finalize(self, _reap, self._proc)
        started = time.monotonic()
        deadline = started + self._start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise TpmError(
                    f"swtpm exited with status {code} on start (port {self.port}, "
                    f"state {self.state_dir}): {self._log_tail()}"
                )
            if self._answers() and self._proc.poll() is None:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise TpmError(
                    f"swtpm (port {self.port}) did not answer within {self._start_timeout} s: "
                    f"{self._log_tail()}"
                )
            time.sleep(0.01)
        log.info(
            "swtpm pid %d on %s:%d (ctrl %d), state %s, up in %.0f ms",
            self._proc.pid,
            HOST,
            self.port,
            self.ctrl_port,
            self.state_dir,
            (time.monotonic() - started) * 1000,
        )

    def _answers(self) -> bool:
        try:
            reply = self.control(CMD_GET_CAPABILITY, b"", 8)
        except (OSError, TpmError):
            return False
        if len(reply) != 8:
            return False
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        return True

    def _log_tail(self) -> str:
        """The last lines swtpm wrote since this start (its log is appended to)."""
        try:
            with self._log_path.open("rb") as f:
                f.seek(self._log_start)
                text = f.read().decode(errors="replace").strip()
        except OSError:
            return "(no log)"
        lines = text.splitlines()[-3:]
        return " | ".join(lines) if lines else "(empty log)"

    def stop(self) -> None:
        """Terminate the process (SIGTERM), wait, SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._reaper is not None:
            self._reaper.detach()
            self._reaper = None
        _reap(proc)
        log.info("swtpm pid %d stopped (status %s)", proc.pid, proc.returncode)

    # -- TPM life-cycle events --

    def power_cycle(self, orderly: bool = True) -> None:
        """Simulate a power cycle: a TPM Reset on the same state (resetCount + 1).

        ``orderly`` sends TPM2_Shutdown(CLEAR) first, as an operating system does when it
        powers down; without it the TPM sees a power loss and reports safe = 0 afterwards
        (Part 2, TPMS_CLOCK_INFO), which the verifier reports too.
        """
        if not self.running:
            raise TpmError("swtpm: power_cycle() needs a running swtpm")
        if orderly:
            self.tpm_command(TPM_CC_SHUTDOWN, struct.pack(">H", TPM_SU_CLEAR))
        self.stop()
        self.start()

    def restart_tpm(self) -> None:
        """Simulate a TPM Restart/Resume: Shutdown(STATE), INIT, Startup(STATE).

        The process keeps running; transient objects and sessions are flushed by the TPM, so
        attesters recreate their keys (:class:`apmip.attest.tpm_device.TpmAttester` does).
        """
        self.tpm_command(TPM_CC_SHUTDOWN, struct.pack(">H", TPM_SU_STATE))
        reply = self.control(CMD_INIT, struct.pack(">I", 0), 4)
        (result,) = struct.unpack(">I", reply)
        if result != 0:
            raise TpmError(f"swtpm: control INIT answered TPM result 0x{result:08x}")
        self.tpm_command(TPM_CC_STARTUP, struct.pack(">H", TPM_SU_STATE))

    # -- raw channels --

    def control(self, command: int, body: bytes, reply_size: int) -> bytes:
        """One control-channel command (big-endian u32 code, then its body); the reply."""
        with socket.create_connection((HOST, self.ctrl_port), timeout=IO_TIMEOUT) as s:
            s.sendall(struct.pack(">I", command) + body)
            return _recv_exactly(s, reply_size, f"swtpm control reply to 0x{command:02x}")

    def tpm_command(self, code: int, parameters: bytes) -> None:
        """Send one session-less TPM 2.0 command on a connection of its own; raise TpmError
        unless the response code is TPM_RC_SUCCESS.

        swtpm serves one connection at a time and tpm2-tss's swtpm TCTI connects per command,
        so this short connection does not disturb an attester using the same TPM.
        """
        command = struct.pack(">HII", TPM_ST_NO_SESSIONS, 10 + len(parameters), code)
        with socket.create_connection((HOST, self.port), timeout=IO_TIMEOUT) as s:
            s.sendall(command + parameters)
            header = _recv_exactly(s, 10, f"response to TPM command 0x{code:08x}")
            _tag, size, rc = struct.unpack(">HII", header)
            if size > 10:
                _recv_exactly(s, size - 10, f"response body of TPM command 0x{code:08x}")
        if rc != 0:
            raise TpmError(
                f"swtpm: TPM command 0x{code:08x} failed with TPM_RC 0x{rc:03x}"
                + (" (TPM_RC_INITIALIZE: not started)" if rc == TPM_RC_INITIALIZE else "")
            )


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process we started, wait, SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("swtpm pid %d ignored SIGTERM for %.0f s, killing", proc.pid, STOP_TIMEOUT)
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def _recv_exactly(s: socket.socket, size: int, what: str) -> bytes:
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            raise TpmError(f"swtpm: connection closed after {len(data)} of {size} bytes of {what}")
        data += chunk
    return data
