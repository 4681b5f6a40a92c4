"""`apmip demo --tpm swtpm`: the same scenario with a real TPM 2.0 (swtpm) per node."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from .test_demo import free_udp_port

pytestmark = [pytest.mark.swtpm, pytest.mark.slow]


def test_demo_on_swtpm_passes_every_step(tmp_path):
    if shutil.which("swtpm") is None:
        pytest.skip("swtpm is not installed (./run tests installs it)")
    command = [
        sys.executable,
        "-m",
        "apmip.cli",
        "demo",
        "--tpm",
        "swtpm",
        "--port",
        str(free_udp_port()),
        "--workdir",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "attester: swtpm" in done.stdout
    assert "6 of 6 steps as expected" in done.stdout
    measured = json.loads((tmp_path / "run" / "lma.events.jsonl").read_text().splitlines()[0])
    assert measured["kind"] == "measured"
    assert measured["detail"]["attester"] == "tpm"
    # every swtpm the demo started is gone again
    left = subprocess.run(["pgrep", "-f", f"swtpm socket.*{tmp_path}"], capture_output=True)
    assert left.stdout == b""
