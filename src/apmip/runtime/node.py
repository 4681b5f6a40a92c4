"""Assemble a daemon from its configuration: attester, measurements, verifier, engine.

Start-up order matters for attestation. The attester is opened; with the software attester
(or ``simulate_boot`` on a lab TPM) the platform boot is measured first; then the daemon
measures its configuration files and its own package into the application PCR; only then does
it answer challenges, so every quote covers what is running. ``record_references`` performs
the same measurements on a scratch attester to write the reference values a peer's verifier
needs, so the daemon and its references can never disagree about what is measured.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from apmip.attest import pki
from apmip.attest.attester import Attester, PcrBank, Quote
from apmip.attest.boot import simulate_boot
from apmip.attest.eventlog import parse_log
from apmip.attest.events import Event
from apmip.attest.local import LocalEvidence
from apmip.attest.measure import config_items, measure, package_items
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.software import SoftwareAttester, generate_key
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier
from apmip.core.events import Event as EngineEvent
from apmip.core.lma import LmaEngine
from apmip.core.mag import MagEngine
from apmip.errors import ApmipError, ConfigError, TpmError

from . import config as config_module
from .config import NodeConfig
from .daemon import Daemon

log = logging.getLogger(__name__)


@dataclass
class NodeAttestation:
    """What a node needs to attest and to appraise."""

    attester: Attester
    evidence: LocalEvidence
    verifier: Verifier
    events: tuple[Event, ...]


def selection(config: NodeConfig) -> tuple[PcrBank, ...]:
    return (PcrBank("sha256", tuple(sorted(set(config.attestation.pcrs)))),)


def open_attester(config: NodeConfig, state: Path | None = None) -> Attester:
    """The attester the configuration names (software key on disk, or a TPM via its TCTI)."""
    settings = config.attestation
    if settings.attester == "tpm":
        from apmip.attest.tpm_device import TpmAttester

        return TpmAttester(settings.tcti)
    assert settings.key is not None
    _check_key(config)
    state = state or settings.state or config.path.with_suffix(".tpm-state.json")
    try:
        # TPMS_CLOCK_INFO.clock counts milliseconds; wall time keeps it increasing
        return SoftwareAttester(settings.key, state, clock=lambda: int(time.time() * 1000))
    except (TpmError, OSError) as exc:
        key = "attestation.key" if str(settings.key) in str(exc) else "attestation.state"
        raise ConfigError(
            str(config.path), key, str(exc), "give the files `apmip pki device` wrote"
        ) from exc


def _check_key(config: NodeConfig) -> None:
    """The software attester's key must be a private key PEM, and the one its certificate
    (``ak_certificate``) was issued for."""
    key_path = config.attestation.key
    assert key_path is not None
    try:
        key = load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "not a private key PEM"
        raise ConfigError(
            str(config.path),
            "attestation.key",
            f"{key_path}: {problem or exc}",
            "give the attestation key PEM written by `apmip pki device`",
        ) from exc
    cert_path = config.attestation.ak_certificate
    if cert_path is None:
        return
    cert = _ak_certificate(config)
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise ConfigError(
            str(config.path),
            "attestation.key",
            f"the key in {key_path} does not match the public key in {cert_path} "
            "(attestation.ak_certificate)",
            "give the key the certificate was issued for, or issue a certificate for this "
            "key with `apmip pki device --ak-pem`",
        )


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _ak_certificate(config: NodeConfig) -> x509.Certificate:
    path = config.attestation.ak_certificate
    assert path is not None
    try:
        return pki.load_cert(path)
    except ApmipError as exc:
        raise ConfigError(
            str(config.path),
            "attestation.ak_certificate",
            _without_cause(exc),
            "give the attestation-key certificate written by `apmip pki device`",
        ) from exc


def measure_node(config: NodeConfig, attester: Attester, boot: bool) -> tuple[Event, ...]:
    """Boot (software platform) and runtime measurements, extended into the attester."""
    events: list[Event] = []
    if boot:
        if isinstance(attester, SoftwareAttester):
            attester.power_cycle()
        events.extend(simulate_boot(attester))
    elif config.attestation.boot_log is not None:
        # a real platform's firmware measured the boot; its log names the components
        events.extend(_boot_log_events(config))
    items = config_items([config.path, *config.attestation.measure]) + package_items()
    events.extend(measure(attester, items, config.attestation.application_pcr))
    return tuple(events)


def _boot_log_events(config: NodeConfig) -> tuple[Event, ...]:
    path = config.attestation.boot_log
    assert path is not None
    try:
        return parse_log(path.read_bytes()).events()
    except (OSError, ApmipError) as exc:
        raise ConfigError(
            str(config.path),
            "attestation.boot_log",
            f"{path}: {exc}",
            "give the platform's TCG event log, e.g. "
            "/sys/kernel/security/tpm0/binary_bios_measurements",
        ) from exc


def _boots(config: NodeConfig) -> bool:
    return config.attestation.attester == "software" or config.attestation.simulate_boot


def prepare_attestation(config: NodeConfig) -> NodeAttestation:
    """Open the attester, measure the node, and build its evidence source and verifier."""
    settings = config.attestation
    attester = open_attester(config)
    try:
        events = measure_node(config, attester, _boots(config))
    except BaseException:
        attester.close()
        raise
    assert settings.ak_certificate is not None
    ak_der = _ak_certificate(config).public_bytes(Encoding.DER)
    chosen = selection(config)
    evidence = LocalEvidence(attester, ak_der, chosen, events)
    verifier = Verifier(_trust_store(config), _references(config), _policy(config), chosen)
    return NodeAttestation(attester, evidence, verifier, events)


def _trust_store(config: NodeConfig) -> TrustStore:
    settings = config.attestation
    where = str(config.path)
    revoked: set[str] = set()
    if settings.revoked is not None:
        try:
            revoked = pki.read_revoked(settings.revoked)
        except (OSError, ApmipError, ValueError) as exc:
            raise ConfigError(
                where,
                "attestation.revoked",
                _without_cause(exc),
                "give a UTF-8 text file with one revoked device serial per line",
            ) from exc
    anchors = []
    for index, path in enumerate(settings.trust_anchors):
        try:
            anchors.append(pki.load_cert(path))
        except ApmipError as exc:
            raise ConfigError(
                where,
                f"attestation.trust_anchors[{index}]",
                _without_cause(exc),
                "list the manufacturer CA certificate(s), e.g. ['pki/ca/ca.cert.pem']",
            ) from exc
    store = TrustStore(anchors, revoked)
    try:
        assert settings.peer_certificates is not None
        folders = sorted(p for p in settings.peer_certificates.iterdir() if p.is_dir())
        for folder in folders:
            store.add_device_dir(folder)
    except (OSError, ApmipError) as exc:
        raise ConfigError(
            where,
            "attestation.peer_certificates",
            str(exc),
            "point it at a folder of device folders written by `apmip pki`",
        ) from exc
    if not folders:
        raise ConfigError(
            where,
            "attestation.peer_certificates",
            f"{settings.peer_certificates} holds no device folders",
            "provision the peers' certificates there (`apmip pki device`)",
        )
    return store


def _references(config: NodeConfig) -> ReferenceValues:
    assert config.attestation.references is not None
    try:
        return ReferenceValues.load(config.attestation.references)
    except (OSError, ApmipError, ValueError) as exc:
        raise ConfigError(
            str(config.path),
            "attestation.references",
            _without_cause(exc),
            "record them with `apmip refvals record`",
        ) from exc


def _without_cause(exc: BaseException) -> str:
    """A nested error's text without its own fix (the outer error gives one)."""
    if isinstance(exc, ConfigError):
        where = exc.path if exc.key == "-" else f"{exc.path}: {exc.key}"
        return f"{where}: {exc.problem}"
    return str(exc)


def _policy(config: NodeConfig) -> Policy:
    return Policy.from_config(config.attestation.policy, f"{config.path}: attestation.policy")


class _NoExtend:
    """Reads PCRs from a live TPM but keeps extends away from it (for recording)."""

    def __init__(self, inner: Attester) -> None:
        self.inner = inner

    def quote(self, qualifying_data: bytes, chosen: tuple[PcrBank, ...]) -> Quote:
        return self.inner.quote(qualifying_data, chosen)

    def pcr_read(self, chosen: tuple[PcrBank, ...]) -> dict[tuple[str, int], bytes]:
        return self.inner.pcr_read(chosen)

    def extend(self, pcr: int, digests: dict[str, bytes]) -> None:
        return None

    def ak_public_pem(self) -> bytes:
        return self.inner.ak_public_pem()

    def close(self) -> None:
        self.inner.close()


def record_references(config: NodeConfig, name: str, release: str = "") -> ReferenceValues:
    """Reference values for this node as it is configured now (a known-good state).

    Where the boot is simulated (the software attester, or a lab TPM started fresh) the whole
    start-up is replayed on a scratch software attester: PCR arithmetic is the same on any
    TPM, so the values are what the node will quote. On a real platform the static PCRs are
    read from its TPM and the runtime events computed without extending anything, so the
    daemon's own measurements still start from a clean application PCR.
    """
    serial = None
    if config.attestation.ak_certificate is not None:
        serial = pki.device_serial(_ak_certificate(config))
    with _scratch_folder() as scratch:
        if _boots(config):
            key = scratch / "key.pem"
            generate_key(key)
            attester: Attester = SoftwareAttester(key, scratch / "state.json", clock=lambda: 0)
            events = measure_node(config, attester, boot=True)
            reader = attester
        else:
            attester = open_attester(config)
            reader = _NoExtend(attester)
            events = measure_node(config, reader, boot=False)
        try:
            return ReferenceValues.record(
                reader,
                selection(config),
                events,
                name=name,
                release=release,
                replay_pcrs=(config.attestation.application_pcr,),
                serials=(serial,) if serial else (),
            )
        finally:
            attester.close()


@contextmanager
def _scratch_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="apmip-refvals-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_engine(config: NodeConfig) -> tuple[LmaEngine | MagEngine, list[EngineEvent]]:
    """The engine the configuration describes, with attestation when it is enabled."""
    startup: list[EngineEvent] = []
    appraiser = evidence = None
    if config.attestation.enabled:
        node = prepare_attestation(config)
        appraiser, evidence = node.verifier, node.evidence
        startup.append(
            EngineEvent(
                "measured",
                time.time(),
                peer=config.address,
                detail={
                    "events": len(node.events),
                    "pcr": config.attestation.application_pcr,
                    "attester": config.attestation.attester,
                },
            )
        )
    if config.role == "lma":
        assert config.lma is not None
        return LmaEngine(
            config.lma, nonces=secrets.token_bytes, appraiser=appraiser, evidence=evidence
        ), startup
    assert config.mag is not None
    return MagEngine(
        config.mag, nonces=secrets.token_bytes, appraiser=appraiser, evidence=evidence
    ), startup


def run_daemon(path: str, role: str) -> int:
    """Load, build and run a daemon until SIGINT/SIGTERM; exit code for the CLI."""
    try:
        config = config_module.load(path, role)
        engine, startup = build_engine(config)
        capture = _open_capture(config)
    except ConfigError as exc:
        print(f"apmip {role}: configuration error: {exc}", file=sys.stderr)
        return 2
    except ApmipError as exc:
        print(f"apmip {role}: cannot start: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(config, engine, capture=capture, startup_events=startup)
    try:
        asyncio.run(daemon.run())
    except ConfigError as exc:
        print(f"apmip {role}: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"apmip {role}: configuration error: {config.path}: node.address/node.port: "
            f"cannot listen on {config.address}:{config.port}: {exc.strerror or exc} (fix: "
            "stop what uses that address and port, or give this node another; the address "
            "must be one of this host's)",
            file=sys.stderr,
        )
        return 2
    return 0


def _open_capture(config: NodeConfig) -> Any:
    if config.pcap is None:
        return None
    from apmip.wire.pcap import PcapWriter

    try:
        config.pcap.parent.mkdir(parents=True, exist_ok=True)
        return PcapWriter(config.pcap)
    except OSError as exc:
        raise ConfigError(
            str(config.path),
            "node.pcap",
            f"cannot write {config.pcap}: {exc.strerror or exc}",
            "give the path of a file this daemon may write",
        ) from exc
