"""The protocol core stays free of I/O: no sockets, clock or random source in the codec, the
verifier or the engines (they take them as arguments). Checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import apmip

ROOT = Path(apmip.__file__).resolve().parent

# the sans-I/O modules: the whole codec (pcap.py reads and writes only files it is given),
# the engines, and the parts of attest that parse, bind and appraise evidence
CORE = sorted(
    [p for p in (ROOT / "wire").glob("*.py")]
    + [p for p in (ROOT / "core").glob("*.py")]
    + [
        ROOT / "attest" / name
        for name in (
            "binding.py",
            "events.py",
            "eventlog.py",
            "evidence.py",
            "refvals.py",
            "result.py",
            "tpm2.py",
            "trust.py",
            "verifier.py",
        )
    ]
)

FORBIDDEN_MODULES = {
    "asyncio",
    "socket",
    "selectors",
    "time",
    "random",
    "secrets",
    "subprocess",
    "threading",
    "uuid",
    "ssl",
}
# calls that read the clock or the random source even without importing a forbidden module
FORBIDDEN_CALLS = {"urandom", "now", "utcnow", "today", "getrandom", "token_bytes"}


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            names = []
        found += [f"line {node.lineno}: imports {n}" for n in names if n in FORBIDDEN_MODULES]
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALLS:
            found.append(f"line {node.lineno}: calls .{func.attr}()")
    return found


def test_the_core_module_list_is_complete():
    names = {p.relative_to(ROOT).as_posix() for p in CORE}
    assert {"wire/mh.py", "core/lma.py", "core/mag.py", "attest/verifier.py"} <= names
    assert all(p.exists() for p in CORE)


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_module_uses_no_socket_clock_or_randomness(path):
    assert offences(path) == []


def test_the_checker_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import time\nimport os\nfrom socket import socket\nx = os.urandom(8)\n"
        "import datetime\ny = datetime.datetime.now()\n"
    )
    assert offences(bad) == [
        "line 1: imports time",
        "line 3: imports socket",
        "line 4: calls .urandom()",
        "line 6: calls .now()",
    ]
