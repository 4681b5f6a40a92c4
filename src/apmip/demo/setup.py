"""The demo's world on disk: a manufacturer PKI, one configuration per node, reference values.

Six nodes, each a real daemon on its own loopback address: ``lma`` with the MAGs ``mag1``
(Wi-Fi), ``mag2`` (LTE) and ``mag3`` (whose configuration is changed after its reference
values were recorded); and ``lma2`` (changed the same way) serving ``mag4``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from apmip.attest import pki
from apmip.attest.refvals import ReferenceValues
from apmip.runtime import config as config_module
from apmip.runtime.node import record_references


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    address: str
    serial: str
    lma: str = ""
    tampered: bool = False


NODES = (
    NodeSpec("lma", "lma", "127.0.0.1", "LMA-0001"),
    NodeSpec("mag1", "mag", "127.0.0.2", "MAG-0001", lma="127.0.0.1"),
    NodeSpec("mag2", "mag", "127.0.0.3", "MAG-0002", lma="127.0.0.1"),
    NodeSpec("mag3", "mag", "127.0.0.4", "MAG-0003", lma="127.0.0.1", tampered=True),
    NodeSpec("lma2", "lma", "127.0.0.5", "LMA-0002", tampered=True),
    NodeSpec("mag4", "mag", "127.0.0.6", "MAG-0004", lma="127.0.0.5"),
)

# what the "tampered" nodes' configuration files get after their references were recorded
TAMPER = {
    "mag": ("lifetime = 60", "lifetime = 86400"),
    "lma": ("max_lifetime = 600", "max_lifetime = 262140"),
}


@dataclass
class World:
    """Paths of everything the demo wrote."""

    root: Path
    port: int
    tpm: str
    configs: dict[str, Path] = field(default_factory=dict)
    tcti: dict[str, str] = field(default_factory=dict)

    def control(self, name: str) -> Path:
        return self.root / "run" / f"{name}.sock"

    def log(self, name: str) -> Path:
        return self.root / "run" / f"{name}.log"


def _config_text(spec: NodeSpec, world: World, pcap: bool) -> str:
    device = f"pki/devices/{spec.name}"
    lines = [
        "# apmip demo node; paths are relative to this file",
        "[node]",
        f'name = "{spec.name}"',
        f'address = "{spec.address}"',
        f"port = {world.port}",
        f'control = "run/{spec.name}.sock"',
        f'events = "run/{spec.name}.events.jsonl"',
    ]
    if pcap:
        lines.append(f'pcap = "run/{spec.name}.pcap"')
    if spec.role == "lma":
        lines += [
            "",
            "[lma]",
            'prefix_pool = "2001:db8:8000::/40"',
            "prefix_length = 64",
            "max_lifetime = 600",
            "min_delay_before_delete = 1.0",
            "timestamp_window = 2.0",
        ]
        peers = "refvals/mags.json"
    else:
        lines += [
            "",
            "[mag]",
            f'lma = "{spec.lma}"',
            "lifetime = 60",
            "initial_timeout = 0.5",
            "max_retransmits = 3",
        ]
        peers = "refvals/lmas.json"
    lines += [
        "",
        "[attestation]",
        "enabled = true",
        "trust_lifetime = 300",
        f'ak_certificate = "{device}/ak.cert.pem"',
        'trust_anchors = ["pki/ca/ca.cert.pem"]',
        'peer_certificates = "pki/devices"',
        f'references = "{peers}"',
    ]
    if world.tpm == "swtpm":
        lines += ['attester = "tpm"', f'tcti = "{world.tcti[spec.name]}"', "simulate_boot = true"]
    else:
        lines += [
            'attester = "software"',
            f'key = "{device}/ak.key.pem"',
            f'state = "state/{spec.name}.json"',
        ]
    return "\n".join(lines) + "\n"


def build_world(
    root: Path,
    port: int,
    tpm: str,
    ak_public: dict[str, bytes],
    pcap: bool,
    tcti: dict[str, str],
) -> World:
    """Write the PKI, the configurations and the reference values; then tamper."""
    world = World(root, port, tpm, tcti=dict(tcti))
    for sub in ("pki", "run", "state", "refvals"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    pki.init_ca(root / "pki", now)
    for spec in NODES:
        pki.issue_device(root / "pki", spec.name, spec.serial, now, ak_public.get(spec.name))
    for spec in NODES:
        path = root / f"{spec.name}.toml"
        path.write_text(_config_text(spec, world, pcap), encoding="utf-8")
        world.configs[spec.name] = path
    # references are recorded from every node in its approved state ...
    sets: dict[str, ReferenceValues] = {"lma": ReferenceValues(), "mag": ReferenceValues()}
    for spec in NODES:
        config = config_module.load(world.configs[spec.name], spec.role, for_recording=True)
        recorded = record_references(config, name=f"{spec.name}-approved", release="demo-1")
        sets[spec.role] = sets[spec.role].merged(recorded)
    sets["lma"].save(root / "refvals" / "lmas.json")
    sets["mag"].save(root / "refvals" / "mags.json")
    # ... and only then are the two "tampered" nodes' configuration files edited
    for spec in NODES:
        if spec.tampered:
            path = world.configs[spec.name]
            before, after = TAMPER[spec.role]
            text = path.read_text(encoding="utf-8")
            assert before in text
            path.write_text(text.replace(before, after), encoding="utf-8")
    return world
