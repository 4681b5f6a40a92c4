"""The daemons' TOML configuration: read, check and turn into settings objects.

Every problem stops start-up with a ConfigError naming the file, the key and the fix. Relative
paths in the file are taken relative to the folder the file is in, so a configuration folder
can be moved as a whole.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apmip.attest.local import DEFAULT_SELECTION
from apmip.attest.measure import DEFAULT_APP_PCR
from apmip.core.lma import LmaSettings
from apmip.core.mag import MagSettings
from apmip.core.trust import TrustSettings
from apmip.errors import ConfigError

DEFAULT_PORT = 5436  # RFC 5844 section 7.4: pmip6-data, the UDP port for PMIPv6 over IPv4

ATTESTERS = ("software", "tpm")


@dataclass(frozen=True)
class AttestationConfig:
    """Where this node's evidence comes from and what it expects of its peers."""

    enabled: bool
    attester: str
    tcti: str
    key: Path | None
    state: Path | None
    ak_certificate: Path | None
    trust_anchors: tuple[Path, ...]
    peer_certificates: Path | None
    revoked: Path | None
    references: Path | None
    measure: tuple[Path, ...]
    boot_log: Path | None
    simulate_boot: bool
    application_pcr: int
    pcrs: tuple[int, ...]
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeConfig:
    """One daemon's whole configuration."""

    path: Path
    role: str
    name: str
    address: str
    port: int
    control: Path
    pcap: Path | None
    events: Path | None
    trust: TrustSettings
    attestation: AttestationConfig
    lma: LmaSettings | None = None
    mag: MagSettings | None = None
    mag_ports: dict[str, int] = field(default_factory=dict)


class _Table:
    """Typed access to one TOML table that names the file and key on every error."""

    def __init__(self, path: Path, prefix: str, data: dict[str, Any]) -> None:
        self.path, self.prefix, self.data = path, prefix, data

    def _fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(str(self.path), f"{self.prefix}{key}", problem, fix)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self._fail(key, "missing", f"add `{key} = ...` to [{self.prefix[:-1]}]")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            raise self._fail(key, f"{value!r} is a boolean", f"give {_a(_name(kind))}")
        if not isinstance(value, kind):
            raise self._fail(key, f"{value!r} is not {_a(_name(kind))}", f"give {_a(_name(kind))}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = float(self.get(key, float, default))
        if not low <= value <= high:
            raise self._fail(key, f"{value} is out of range", f"use a value from {low} to {high}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = int(self.get(key, int, default))
        if not low <= value <= high:
            raise self._fail(key, f"{value} is out of range", f"use a value from {low} to {high}")
        return value

    def address(self, key: str, default: Any = ...) -> str:
        text = self.get(key, str, default)
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise self._fail(
                key, f"{text!r} is not an IP address", "give e.g. 127.0.0.1"
            ) from None

    def file(self, key: str, must_exist: bool = True) -> Path | None:
        text: str = self.get(key, str, "")
        if not text:
            return None
        resolved = (self.path.parent / text).resolve()
        if must_exist and not resolved.exists():
            raise self._fail(key, f"{resolved} does not exist", "create it or correct the path")
        return resolved

    def output(self, key: str, example: str) -> Path | None:
        """A file this node writes: it may be missing, but must not be a folder."""
        resolved = self.file(key, must_exist=False)
        if resolved is not None and resolved.is_dir():
            raise self._fail(
                key, f"{resolved} is a directory", f"give the path of a file, e.g. {example!r}"
            )
        return resolved

    def files(self, key: str) -> tuple[Path, ...]:
        items = self.get(key, list, [])
        paths = []
        for index, text in enumerate(items):
            if not isinstance(text, str):
                raise self._fail(f"{key}[{index}]", f"{text!r} is not a path", "give a string")
            resolved = (self.path.parent / text).resolve()
            if not resolved.exists():
                raise self._fail(f"{key}[{index}]", f"{resolved} does not exist", "fix the path")
            paths.append(resolved)
        return tuple(paths)

    def table(self, key: str) -> _Table:
        value = self.get(key, dict, {})
        return _Table(self.path, f"{self.prefix}{key}.", value)

    def reject_unknown(self, known: set[str]) -> None:
        for key in self.data:
            if key not in known:
                raise self._fail(
                    key, "is not a known key", f"remove it; known keys: {', '.join(sorted(known))}"
                )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "list",
        dict: "table",
    }
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def load(path: str | Path, role: str, *, for_recording: bool = False) -> NodeConfig:
    """Read and check a daemon's configuration file.

    ``for_recording`` loads it to record the node's own reference values: what the node needs
    only to appraise its peers (``references``, ``peer_certificates``) need not exist yet.
    """
    path = Path(path).resolve()
    raw = _read(path)
    top = _Table(path, "", raw)
    top.reject_unknown({"node", "lma", "mag", "attestation"})
    other = "mag" if role == "lma" else "lma"
    if other in raw:
        raise top._fail(
            other,
            f"a [{other}] table does not belong in an {role.upper()} configuration",
            f"remove [{other}], or run this file with `apmip {other}`",
        )
    node = top.table("node")
    node.reject_unknown({"name", "address", "port", "control", "pcap", "events"})
    name = node.get("name", str, role)
    if not name.strip():
        raise node._fail("name", "is empty", "give the node a name, e.g. 'mag1'")
    address = node.address("address")
    port = node.integer("port", DEFAULT_PORT, 1, 65535)
    control = node.get("control", str, f"{name}.sock")
    trust, attestation = _attestation(top.table("attestation"), for_recording)
    config = NodeConfig(
        path=path,
        role=role,
        name=name,
        address=address,
        port=port,
        control=(path.parent / control).resolve(),
        pcap=node.output("pcap", f"run/{name}.pcap"),
        events=node.output("events", f"run/{name}.events.jsonl"),
        trust=trust,
        attestation=attestation,
    )
    if role == "lma":
        return _with_lma(config, top.table("lma"))
    return _with_mag(config, top.table("mag"))


def _read(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``; every way of failing is a ConfigError."""
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(where, "-", "file not found", "give the path of a TOML file") from None
    except IsADirectoryError:
        raise ConfigError(where, "-", "is a directory", "give the path of a TOML file") from None
    except PermissionError:
        raise ConfigError(
            where, "-", "cannot be read: permission denied", "make it readable for this user"
        ) from None
    except OSError as exc:
        raise ConfigError(
            where, "-", f"cannot be read: {exc.strerror or exc}", "give the path of a TOML file"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            where,
            "-",
            f"byte 0x{data[exc.start]:02x} on line {line} is not UTF-8",
            "save the file as UTF-8 text",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, "-", f"not valid TOML: {exc}", "fix the syntax") from None


def _attestation(table: _Table, for_recording: bool) -> tuple[TrustSettings, AttestationConfig]:
    table.reject_unknown(
        {
            "enabled",
            "trust_lifetime",
            "nonce_lifetime",
            "vendor_id",
            "status_required",
            "status_failed",
            "attester",
            "tcti",
            "key",
            "state",
            "ak_certificate",
            "trust_anchors",
            "peer_certificates",
            "revoked",
            "references",
            "measure",
            "boot_log",
            "simulate_boot",
            "application_pcr",
            "pcrs",
            "policy",
        }
    )
    enabled = table.get("enabled", bool, True)
    trust = TrustSettings(
        enabled=enabled,
        trust_lifetime=table.number("trust_lifetime", 300.0, 1.0, 86400.0),
        nonce_lifetime=table.number("nonce_lifetime", 10.0, 0.5, 600.0),
        vendor_id=table.integer("vendor_id", 32473, 0, 0xFFFFFFFF),
        status_required=table.integer("status_required", 220, 128, 255),
        status_failed=table.integer("status_failed", 221, 128, 255),
    )
    if trust.status_required == trust.status_failed:
        raise table._fail("status_failed", "equals status_required", "give two distinct codes")
    attester = table.get("attester", str, "software")
    if attester not in ATTESTERS:
        raise table._fail("attester", f"{attester!r} is unknown", f"use one of {ATTESTERS}")
    tcti = table.get("tcti", str, "")
    if enabled and attester == "tpm" and not tcti:
        raise table._fail(
            "tcti",
            "missing for attester = 'tpm'",
            "give e.g. 'swtpm:host=127.0.0.1,port=2321' or 'device:/dev/tpmrm0'",
        )
    pcrs = table.get("pcrs", list, list(DEFAULT_SELECTION[0].pcrs))
    for index, pcr in enumerate(pcrs):
        if not isinstance(pcr, int) or isinstance(pcr, bool) or not 0 <= pcr <= 23:
            raise table._fail(f"pcrs[{index}]", f"{pcr!r} is not a PCR index", "use 0..23")
    config = AttestationConfig(
        enabled=enabled,
        attester=attester,
        tcti=tcti,
        key=table.file("key", must_exist=enabled and attester == "software"),
        state=table.file("state", must_exist=False),
        ak_certificate=table.file("ak_certificate", must_exist=enabled),
        trust_anchors=table.files("trust_anchors"),
        peer_certificates=table.file(
            "peer_certificates", must_exist=enabled and not for_recording
        ),
        revoked=table.file("revoked"),
        references=table.file("references", must_exist=enabled and not for_recording),
        measure=table.files("measure"),
        boot_log=table.file("boot_log"),
        simulate_boot=table.get("simulate_boot", bool, False),
        application_pcr=table.integer("application_pcr", DEFAULT_APP_PCR, 0, 23),
        pcrs=tuple(pcrs),
        policy=table.get("policy", dict, {}),
    )
    if config.application_pcr not in config.pcrs:
        raise table._fail(
            "pcrs",
            f"{list(config.pcrs)} does not hold the application PCR {config.application_pcr}",
            "quote the PCR the daemon measures itself into: add it to `pcrs`",
        )
    if enabled:
        for key in ("ak_certificate", "peer_certificates", "references"):
            if getattr(config, key) is None:
                raise table._fail(
                    key,
                    "missing while attestation is enabled",
                    f"set `{key}` or `enabled = false`",
                )
        if not config.trust_anchors:
            raise table._fail(
                "trust_anchors",
                "empty while attestation is enabled",
                "list the manufacturer CA certificate(s), e.g. ['pki/ca.pem']",
            )
        if attester == "software" and config.key is None:
            raise table._fail(
                "key",
                "missing for attester = 'software'",
                "give the attestation key PEM written by `apmip pki device`",
            )
    return trust, config


def _with_lma(config: NodeConfig, table: _Table) -> NodeConfig:
    table.reject_unknown(
        {
            "prefix_pool",
            "prefix_length",
            "max_lifetime",
            "min_delay_before_delete",
            "timestamp_window",
        }
    )
    pool_text = table.get("prefix_pool", str, "2001:db8:8000::/40")
    try:
        pool = ipaddress.IPv6Network(pool_text)
    except ValueError:
        raise table._fail(
            "prefix_pool", f"{pool_text!r} is not an IPv6 prefix", "give e.g. '2001:db8:8000::/40'"
        ) from None
    length = table.integer("prefix_length", 64, pool.prefixlen, 128)
    settings = LmaSettings(
        address=config.address,
        prefix_pool=pool,
        prefix_length=length,
        max_lifetime=table.number("max_lifetime", 3600.0, 4.0, 262140.0),
        min_delay_before_delete=table.number("min_delay_before_delete", 10.0, 0.0, 3600.0),
        timestamp_window=table.number("timestamp_window", 0.3, 0.001, 3600.0),
        trust=config.trust,
    )
    return _replace(config, lma=settings)


def _with_mag(config: NodeConfig, table: _Table) -> NodeConfig:
    table.reject_unknown(
        {"lma", "lma_port", "lifetime", "initial_timeout", "max_timeout", "max_retransmits"}
    )
    lma = table.address("lma")
    if ipaddress.ip_address(lma).version != ipaddress.ip_address(config.address).version:
        raise table._fail(
            "lma",
            f"{lma} and node.address {config.address} are of different IP versions",
            "give the LMA's address of the same family as this MAG's node.address",
        )
    initial = table.number("initial_timeout", 1.0, 0.01, 60.0)
    settings = MagSettings(
        address=config.address,
        lma=lma,
        lifetime=table.number("lifetime", 3600.0, 4.0, 262140.0),
        initial_timeout=initial,
        max_timeout=table.number("max_timeout", 32.0, initial, 3600.0),
        max_retransmits=table.integer("max_retransmits", 6, 0, 100),
        trust=config.trust,
    )
    lma_port = table.integer("lma_port", config.port, 1, 65535)
    return _replace(config, mag=settings, mag_ports={lma: lma_port})


def _replace(config: NodeConfig, **changes: Any) -> NodeConfig:
    from dataclasses import replace

    return replace(config, **changes)
