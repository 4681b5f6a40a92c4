"""Bad configuration stops start-up with a message naming the file, the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from apmip.errors import ConfigError
from apmip.runtime import config

PLAIN = """
[node]
name = "mag1"
address = "127.0.0.2"

[mag]
lma = "127.0.0.1"
lifetime = 60

[attestation]
enabled = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def error(tmp_path: Path, text: str, role: str = "mag") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text), role)
    return caught.value


def test_plain_mag_configuration_loads(tmp_path):
    loaded = config.load(write(tmp_path, PLAIN), "mag")
    assert loaded.mag is not None
    assert (loaded.address, loaded.port, loaded.mag.lma, loaded.mag.lifetime) == (
        "127.0.0.2",
        5436,
        "127.0.0.1",
        60.0,
    )
    assert loaded.control == tmp_path / "mag1.sock"
    assert loaded.trust.enabled is False


@pytest.mark.parametrize(
    ("change", "key", "problem", "fix"),
    [
        (
            ("lifetime = 60", "lifetime = 2"),
            "mag.lifetime",
            "2.0 is out of range",
            "use a value from 4.0 to 262140.0",
        ),
        (
            ("lifetime = 60", 'lifetime = "long"'),
            "mag.lifetime",
            "'long' is not a number",
            "give a number",
        ),
        (
            ('address = "127.0.0.2"', 'address = "mag1.local"'),
            "node.address",
            "'mag1.local' is not an IP address",
            "give e.g. 127.0.0.1",
        ),
        (
            ("lifetime = 60", "lifetme = 60"),
            "mag.lifetme",
            "is not a known key",
            "remove it; known keys:",
        ),
        (('lma = "127.0.0.1"', ""), "mag.lma", "missing", "add `lma = ...` to [mag]"),
        (
            ("enabled = false", "enabled = true"),
            "attestation.ak_certificate",
            "missing while attestation is enabled",
            "set `ak_certificate` or `enabled = false`",
        ),
        (
            ("enabled = false", "enabled = false\nstatus_failed = 220"),
            "attestation.status_failed",
            "equals status_required",
            "give two distinct codes",
        ),
        (
            ("enabled = false", 'enabled = false\nattester = "hsm"'),
            "attestation.attester",
            "'hsm' is unknown",
            "use one of",
        ),
    ],
)
def test_each_mistake_names_file_key_and_fix(tmp_path, change, key, problem, fix):
    exc = error(tmp_path, PLAIN.replace(*change))
    assert exc.path == str(tmp_path / "node.toml")
    assert exc.key == key
    assert exc.problem == problem
    assert exc.fix.startswith(fix)


def test_an_ipv6_lma_for_an_ipv4_mag_is_refused(tmp_path):
    exc = error(tmp_path, PLAIN.replace('lma = "127.0.0.1"', 'lma = "2001:db8::1"'))
    assert (exc.key, exc.problem) == (
        "mag.lma",
        "2001:db8::1 and node.address 127.0.0.2 are of different IP versions",
    )


def test_a_selection_without_the_application_pcr_is_refused(tmp_path):
    exc = error(tmp_path, PLAIN.replace("enabled = false", "enabled = false\npcrs = [0, 1]"))
    assert (exc.key, exc.problem) == (
        "attestation.pcrs",
        "[0, 1] does not hold the application PCR 13",
    )
    exc = error(tmp_path, PLAIN.replace("enabled = false", "enabled = false\npcrs = []"))
    assert exc.problem == "[] does not hold the application PCR 13"


def test_missing_file_and_bad_syntax(tmp_path):
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path / "absent.toml", "lma")
    assert caught.value.problem == "file not found"
    exc = error(tmp_path, "[node\naddress = 1")
    assert exc.problem.startswith("not valid TOML") and exc.fix == "fix the syntax"


def test_daemon_refuses_to_start_and_exits_2(tmp_path):
    path = write(tmp_path, PLAIN.replace("lifetime = 60", "lifetime = 2"))
    done = subprocess.run(
        [sys.executable, "-m", "apmip.cli", "mag", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"apmip mag: configuration error: {path}: mag.lifetime: 2.0 is out of range "
        "(fix: use a value from 4.0 to 262140.0)"
    )


def test_refvals_record_will_not_silently_replace_other_nodes_sets(tmp_path, capsys):
    from apmip.cli import main

    shared = tmp_path / "mags.json"
    shared.write_text('{"format": "apmip-reference-values", "version": 1, "sets": []}')
    code = main(
        [
            "refvals",
            "record",
            str(write(tmp_path, PLAIN)),
            "--role",
            "mag",
            "--name",
            "mag2",
            "-o",
            str(shared),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"apmip refvals record: {shared} exists and holds other nodes' reference sets; add "
        "--merge to add this set to it, or --force to replace the whole file"
    )
