"""The swtpm launcher: start, stop, ports, and the two TPM life-cycle events it simulates."""

from __future__ import annotations

import gc
import os
import re
import socket
import struct
from pathlib import Path

import pytest

from apmip.attest.attester import PcrBank
from apmip.attest.swtpm import (
    TPM_CC_STARTUP,
    TPM_SU_CLEAR,
    SwtpmProcess,
    free_port_pair,
)
from apmip.attest.tpm_device import TpmAttester
from apmip.errors import TpmError

from .skips import needs_swtpm

pytestmark = [pytest.mark.swtpm, needs_swtpm]

APP_PCR = 13  # PCRs 0-15 survive a TPM Resume; 16-23 are reset by it (PC Client PTP)
DIGEST = bytes(range(32))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its /proc status says so
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_start_exposes_tcti_and_stop_ends_the_process(tmp_path: Path) -> None:
    with SwtpmProcess(tmp_path / "state") as tpm:
        assert re.fullmatch(r"swtpm:host=127\.0\.0\.1,port=\d+", tpm.tcti)
        assert tpm.ctrl_port == tpm.port + 1
        pid = tpm.pid
        assert pid is not None and _alive(pid)
        with socket.create_connection(("127.0.0.1", tpm.port), timeout=2):
            pass
    assert not _alive(pid)
    assert tpm.pid is None and not tpm.running
    # swtpm kept its non-volatile state in the directory
    assert any(p.name.startswith("tpm2-") for p in (tmp_path / "state").iterdir())


def test_fixed_port_is_used(tmp_path: Path) -> None:
    port = free_port_pair()
    with SwtpmProcess(tmp_path, port=port) as tpm:
        assert tpm.tcti == f"swtpm:host=127.0.0.1,port={port}"


def test_taken_fixed_port_gives_a_clear_error(tmp_path: Path) -> None:
    with SwtpmProcess(tmp_path / "a") as first:
        second = SwtpmProcess(tmp_path / "b", port=first.port)
        with pytest.raises(TpmError, match=rf"port {first.port} is already in use"):
            second.start()
        assert second.pid is None


def test_missing_binary_is_a_tpm_error(tmp_path: Path) -> None:
    with pytest.raises(TpmError, match=r"'swtpm-not-here' executable is not on PATH.*apt-get"):
        SwtpmProcess(tmp_path, binary="swtpm-not-here").start()


def test_tpm_command_reports_the_response_code(swtpm: SwtpmProcess) -> None:
    # swtpm already sent Startup(CLEAR); a second one answers TPM_RC_INITIALIZE (0x100)
    with pytest.raises(TpmError, match=r"0x00000144 failed with TPM_RC 0x100 \(TPM_RC_INITIALIZE"):
        swtpm.tpm_command(TPM_CC_STARTUP, struct.pack(">H", TPM_SU_CLEAR))


def test_power_cycle_is_a_tpm_reset(swtpm: SwtpmProcess) -> None:
    port, pid = swtpm.port, swtpm.pid
    with TpmAttester(swtpm.tcti) as tpm:
        before = tpm.read_clock()
        tpm.extend(APP_PCR, {"sha256": DIGEST})
        swtpm.power_cycle()
        after = tpm.read_clock()  # the same TCTI string reaches the new process
        value = tpm.pcr_read((PcrBank("sha256", (APP_PCR,)),))[("sha256", APP_PCR)]
    assert swtpm.port == port and swtpm.pid != pid
    assert (after.reset_count, after.restart_count, after.safe) == (
        before.reset_count + 1,
        0,
        True,
    )
    assert after.clock >= before.clock  # the clock is non-volatile and kept going
    assert value == bytes(32)  # a TPM Reset clears the PCRs


def test_power_loss_leaves_the_clock_unsafe(swtpm: SwtpmProcess) -> None:
    with TpmAttester(swtpm.tcti) as tpm:
        before = tpm.read_clock()
        swtpm.power_cycle(orderly=False)
        after = tpm.read_clock()
    assert (after.reset_count, after.safe) == (before.reset_count + 1, False)


def test_restart_is_a_tpm_resume(swtpm: SwtpmProcess) -> None:
    with TpmAttester(swtpm.tcti) as tpm:
        tpm.extend(APP_PCR, {"sha256": DIGEST})
        selection = (PcrBank("sha256", (APP_PCR,)),)
        extended = tpm.pcr_read(selection)
        before = tpm.read_clock()
        pid = swtpm.pid
        swtpm.restart_tpm()
        after = tpm.read_clock()
        assert tpm.pcr_read(selection) == extended  # PCRs 0-15 are restored on Resume
    assert swtpm.pid == pid
    assert (after.reset_count, after.restart_count, after.safe) == (
        before.reset_count,
        before.restart_count + 1,
        True,
    )


def test_state_directory_keeps_the_endorsement_seed(tmp_path: Path) -> None:
    with SwtpmProcess(tmp_path / "s") as tpm, TpmAttester(tpm.tcti) as attester:
        first = attester.ak_public_pem()
    with SwtpmProcess(tmp_path / "s") as tpm, TpmAttester(tpm.tcti) as attester:
        assert attester.ak_public_pem() == first
    with SwtpmProcess(tmp_path / "other") as tpm, TpmAttester(tpm.tcti) as attester:
        assert attester.ak_public_pem() != first


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_swtpm_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    binary = _script(tmp_path / "fake-swtpm", "echo 'swtpm: bad tpmstate' >&2; exit 3")
    tpm = SwtpmProcess(tmp_path / "state", binary=binary)
    with pytest.raises(TpmError, match=r"exited with status 3 on start .*: swtpm: bad tpmstate"):
        tpm.start()
    assert tpm.pid is None


def test_swtpm_that_never_answers_is_stopped(tmp_path: Path) -> None:
    binary = _script(tmp_path / "mute-swtpm", "exec sleep 30")
    tpm = SwtpmProcess(tmp_path / "state", binary=binary, start_timeout=0.3)
    with pytest.raises(TpmError, match=r"did not answer within 0\.3 s"):
        tpm.start()
    assert tpm.pid is None and not tpm.running


def test_state_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(TpmError, match=r"cannot create state directory .*file/state"):
        SwtpmProcess(tmp_path / "file" / "state").start()


def test_latency_script_measures_every_operation(tmp_path: Path) -> None:
    from .latency import run

    figures = run(3, tmp_path)
    names = [f.name for f in figures]
    assert len(names) == 20 and len(set(names)) == 20
    assert "quote ecc256, 8 sha256 PCRs" in names and names[-1] == "power_cycle"
    assert all(0 < f.min_ms <= f.median_ms <= f.p95_ms for f in figures)


def test_forgotten_process_is_reaped_when_collected(tmp_path: Path) -> None:
    tpm = SwtpmProcess(tmp_path)
    tpm.start()
    pid = tpm.pid
    assert pid is not None and _alive(pid)
    del tpm
    gc.collect()
    assert not _alive(pid)
