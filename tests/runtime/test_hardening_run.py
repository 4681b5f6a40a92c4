"""`./run` keeps its environment beside itself but runs commands where the caller stands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "run"

FAKE_APMIP = """#!/bin/sh
echo "cwd=$(pwd -P) args=$*"
"""


def fake_project(root: Path) -> Path:
    """A copy of `run` beside a fake, already installed .venv whose apmip prints its cwd."""
    project = root / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(RUN, project / "run")
    (project / "pyproject.toml").write_text("")
    (project / ".venv" / "bin" / "python").symlink_to(sys.executable)
    apmip = project / ".venv" / "bin" / "apmip"
    apmip.write_text(FAKE_APMIP)
    apmip.chmod(0o755)
    (project / ".venv" / ".installed-base").touch()
    later = time.time() + 5
    os.utime(project / ".venv" / ".installed-base", (later, later))
    return project


def test_commands_run_in_the_callers_folder(tmp_path):
    project = fake_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command, expected in (
        (["apmip", "decode", "run/lma.pcap"], "args=decode run/lma.pcap"),
        (["demo", "--workdir", "w"], "args=demo --workdir w"),
        (["bench"], "args=bench"),
    ):
        done = subprocess.run(
            [str(project / "run"), *command],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout, done.stderr) == (
            0,
            f"cwd={elsewhere.resolve()} {expected}\n",
            "",
        )


def test_run_through_a_relative_path_finds_its_venv(tmp_path):
    fake_project(tmp_path)
    done = subprocess.run(
        ["project/run", "apmip", "show"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, f"cwd={tmp_path.resolve()} args=show\n")
    assert not (tmp_path / ".venv").exists()
