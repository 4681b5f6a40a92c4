"""Configuration mistakes found by a first user: each is one line naming the file, the key and
the fix, and stops a daemon with exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apmip.errors import ConfigError
from apmip.runtime import config
from apmip.runtime.node import run_daemon

from .test_demo import free_udp_port


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's PKI, configurations and reference values (software attester)."""
    from apmip.demo.setup import build_world

    root = tmp_path_factory.mktemp("world")
    build_world(root, free_udp_port(), "software", {}, False, {})
    (root / "adir").mkdir()
    return root


def variant(world: Path, change: tuple[str, str], name: str = "bad.toml") -> Path:
    """mag1's configuration with one line changed, beside the original."""
    text = (world / "mag1.toml").read_text()
    assert change[0] in text
    path = world / name
    path.write_text(text.replace(*change, 1))
    return path


class Started(Exception):
    """A configuration that should have been refused got as far as running a daemon."""


class NoDaemon:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise Started


@pytest.fixture(autouse=True)
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("apmip.runtime.node.Daemon", NoDaemon)


def refusal(path: Path, capsys: pytest.CaptureFixture[str], role: str = "mag") -> str:
    """What `apmip mag --config PATH` prints; it must exit 2."""
    assert run_daemon(str(path), role) == 2
    return capsys.readouterr().err.strip()


def test_a_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "mag.toml"
    path.write_bytes(b'[node]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path, "mag")
    assert str(caught.value) == (
        f"{path}: -: byte 0xe9 on line 2 is not UTF-8 (fix: save the file as UTF-8 text)"
    )


def test_a_config_path_that_is_a_directory(tmp_path):
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path, "mag")
    assert (
        str(caught.value) == f"{tmp_path}: -: is a directory (fix: give the path of a TOML file)"
    )


def test_an_unreadable_config_file(tmp_path, monkeypatch):
    path = tmp_path / "mag.toml"
    path.write_text("")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as caught:
        config.load(path, "mag")
    assert str(caught.value) == (
        f"{path}: -: cannot be read: permission denied (fix: make it readable for this user)"
    )


def test_a_config_path_that_cannot_be_read(capsys):
    assert run_daemon("/proc/self/mem", "lma") == 2
    assert capsys.readouterr().err.strip() == (
        f"apmip lma: configuration error: /proc/{os.getpid()}/mem: -: cannot be read: "
        "Input/output "
        "error (fix: give the path of a TOML file)"
    )


@pytest.mark.parametrize(
    ("line", "key", "example"),
    [
        ('pcap = "adir"', "node.pcap", "run/mag1.pcap"),
        ('events = "adir"', "node.events", "run/mag1.events.jsonl"),
    ],
)
def test_an_output_file_that_is_a_directory(world, capsys, line, key, example):
    path = variant(world, ('events = "run/mag1.events.jsonl"', line))
    assert refusal(path, capsys) == (
        f"apmip mag: configuration error: {path}: {key}: {world}/adir is a directory "
        f"(fix: give the path of a file, e.g. '{example}')"
    )


def test_a_revocation_list_that_is_not_utf8(world, capsys):
    (world / "revoked.txt").write_bytes(b"MAG-0009\n\xff\n")
    path = variant(world, ("enabled = true", 'enabled = true\nrevoked = "revoked.txt"'))
    assert refusal(path, capsys) == (
        f"apmip mag: configuration error: {path}: attestation.revoked: {world}/revoked.txt: "
        "line 2: byte 0xff at offset 9 is not UTF-8 (fix: give a UTF-8 text file with one "
        "revoked device serial per line)"
    )


def test_a_folder_in_trust_anchors_names_trust_anchors(world, capsys):
    path = variant(world, ('trust_anchors = ["pki/ca/ca.cert.pem"]', 'trust_anchors = ["adir"]'))
    assert refusal(path, capsys) == (
        f"apmip mag: configuration error: {path}: attestation.trust_anchors[0]: cannot read "
        f"certificate {world}/adir: [Errno 21] Is a directory: '{world}/adir' (fix: list the "
        "manufacturer CA certificate(s), e.g. ['pki/ca/ca.cert.pem'])"
    )


def test_a_key_file_in_trust_anchors_names_trust_anchors(world, capsys):
    path = variant(
        world,
        (
            'trust_anchors = ["pki/ca/ca.cert.pem"]',
            'trust_anchors = ["pki/ca/ca.cert.pem", "pki/devices/mag1/ak.key.pem"]',
        ),
    )
    message = refusal(path, capsys)
    assert message.startswith(
        f"apmip mag: configuration error: {path}: attestation.trust_anchors[1]: "
        f"{world}/pki/devices/mag1/ak.key.pem is not an X.509 certificate: "
    )
    assert message.endswith(
        "(fix: list the manufacturer CA certificate(s), e.g. ['pki/ca/ca.cert.pem'])"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('key = "pki/devices/mag1/ak.key.pem"', 'key = "adir"'),
            "attestation.key: {world}/adir: Is a directory (fix: give the attestation key PEM "
            "written by `apmip pki device`)",
        ),
        (
            ('key = "pki/devices/mag1/ak.key.pem"', 'key = "pki/devices/mag1/ak.cert.pem"'),
            "attestation.key: {world}/pki/devices/mag1/ak.cert.pem: not a private key PEM "
            "(fix: give the attestation key PEM written by `apmip pki device`)",
        ),
        (
            ('ak_certificate = "pki/devices/mag1/ak.cert.pem"', 'ak_certificate = "adir"'),
            "attestation.ak_certificate: cannot read certificate {world}/adir: [Errno 21] Is a "
            "directory: '{world}/adir' (fix: give the attestation-key certificate written by "
            "`apmip pki device`)",
        ),
        (
            ('references = "refvals/lmas.json"', 'references = "adir"'),
            "attestation.references: {world}/adir: unreadable: Is a directory (fix: record "
            "them with `apmip refvals record`)",
        ),
        (
            ('key = "pki/devices/mag1/ak.key.pem"', 'key = "pki/devices/mag2/ak.key.pem"'),
            "attestation.key: the key in {world}/pki/devices/mag2/ak.key.pem does not match the "
            "public key in {world}/pki/devices/mag1/ak.cert.pem (attestation.ak_certificate) "
            "(fix: give the key the certificate was issued for, or issue a certificate for "
            "this key with `apmip pki device --ak-pem`)",
        ),
    ],
)
def test_attestation_files_are_named_by_their_key(world, capsys, change, expected):
    path = variant(world, change)
    assert refusal(path, capsys) == (
        f"apmip mag: configuration error: {path}: {expected.format(world=world)}"
    )


def test_an_integer_is_asked_for_with_the_right_article(world):
    path = variant(world, ("port = ", 'port = "high"\n# '))
    with pytest.raises(ConfigError) as caught:
        config.load(path, "mag")
    assert (caught.value.problem, caught.value.fix) == (
        "'high' is not an integer",
        "give an integer",
    )


@pytest.mark.parametrize(
    ("source", "role", "message"),
    [
        (
            "mag1.toml",
            "lma",
            "mag: a [mag] table does not belong in an LMA configuration (fix: remove [mag], "
            "or run this file with `apmip mag`)",
        ),
        (
            "lma.toml",
            "mag",
            "lma: a [lma] table does not belong in an MAG configuration (fix: remove [lma], "
            "or run this file with `apmip lma`)",
        ),
    ],
)
def test_the_other_roles_table_is_refused(world, capsys, source, role, message):
    path = world / source
    assert refusal(path, capsys, role) == f"apmip {role}: configuration error: {path}: {message}"


def test_an_empty_name_is_refused(world, capsys):
    path = variant(world, ('name = "mag1"', 'name = ""'))
    assert refusal(path, capsys) == (
        f"apmip mag: configuration error: {path}: node.name: is empty (fix: give the node a "
        "name, e.g. 'mag1')"
    )


def test_recording_needs_neither_references_nor_peer_certificates(world, tmp_path):
    folder = tmp_path / "node"
    shutil.copytree(world / "pki", folder / "pki")
    text = (world / "mag1.toml").read_text()
    text = text.replace('peer_certificates = "pki/devices"', 'peer_certificates = "peers"')
    (folder / "mag1.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        config.load(folder / "mag1.toml", "mag")
    assert caught.value.key == "attestation.peer_certificates"
    loaded = config.load(folder / "mag1.toml", "mag", for_recording=True)
    assert loaded.attestation.references == folder / "refvals" / "lmas.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apmip.cli",
            "refvals",
            "record",
            str(folder / "mag1.toml"),
            "--role",
            "mag",
            "--name",
            "mag1-approved",
            "-o",
            str(folder / "mag1.refvals.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith(f"written to {folder / 'mag1.refvals.json'}\n")
    assert not (folder / "refvals").exists()
