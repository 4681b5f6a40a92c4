"""Attesting platforms for appraisal tests: a swtpm behind TpmAttester, or the software attester.

Both kinds go through the same steps (certify the AK with the test manufacturer CA, simulate a
measured boot, measure configuration and program files into the application PCR, answer nonces
with evidence), so one test body can run against either and expect the same verdicts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from apmip.attest import pki
from apmip.attest.attester import Attester, PcrBank
from apmip.attest.binding import SignallingContext
from apmip.attest.boot import BOOT_CHAIN, BootComponent, simulate_boot
from apmip.attest.events import Event
from apmip.attest.local import DEFAULT_SELECTION, LocalEvidence
from apmip.attest.measure import Item, config_items, measure, package_items
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.software import SoftwareAttester
from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm2 import ClockInfo
from apmip.attest.tpm_device import TpmAttester
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier

KINDS = ("swtpm", "software")
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
NONCE = bytes(range(16))
CONTEXT = SignallingContext("mag", "2001:db8::1", "2001:db8::100", b"mn1@example", 7)


class Clock:
    """The software attester's TPM clock in milliseconds, moved by hand."""

    def __init__(self, ms: int = 1_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class Platform:
    """One device: an attester of ``kind`` with a certified AK, booted and measured.

    ``files`` are the platform's configuration and program files: (kind, name, path) items
    measured into the application PCR after the package's own files.
    """

    def __init__(
        self,
        kind: str,
        work: Path,
        pki_dir: Path,
        name: str,
        files: Iterable[Item],
        selection: tuple[PcrBank, ...] = DEFAULT_SELECTION,
        chain: tuple[BootComponent, ...] = BOOT_CHAIN,
    ) -> None:
        self.kind = kind
        self.name = name
        self.serial = f"SN-{name}"
        self.files = list(files)
        self.selection = selection
        self.chain = chain
        self.swtpm: SwtpmProcess | None = None
        self.clock = Clock()
        work.mkdir(parents=True, exist_ok=True)
        self.attester: Attester
        if kind == "swtpm":
            self.swtpm = SwtpmProcess(work / f"swtpm-{name}")
            self.swtpm.start()
            try:
                self.attester = TpmAttester(self.swtpm.tcti)
            except BaseException:
                self.swtpm.stop()
                raise
            try:
                pem = self.attester.ak_public_pem()
                paths = pki.issue_device(pki_dir, name, self.serial, NOW, pem, model="swtpm")
            except BaseException:  # a half-built platform must not leave swtpm running
                self.close()
                raise
        else:
            paths = pki.issue_device(pki_dir, name, self.serial, NOW)
            assert paths.ak_key is not None
            self._key, self._state = paths.ak_key, work / f"{name}.json"
            self.attester = SoftwareAttester(self._key, self._state, self.clock)
        self.ak_cert_der = pki.load_cert(paths.ak_cert).public_bytes(serialization.Encoding.DER)
        self.events: tuple[Event, ...] = ()
        self.local = LocalEvidence(self.attester, self.ak_cert_der, selection)
        self.boot()

    def boot(self) -> None:
        """The boot chain, then the package's files and the platform's own files."""
        events = simulate_boot(self.attester, self.chain)
        items = package_items("apmip.attest") + self.files
        self.events = events + measure(self.attester, items)
        self.local = LocalEvidence(self.attester, self.ak_cert_der, self.selection, self.events)

    def evidence(self, nonce: bytes = NONCE, context: SignallingContext = CONTEXT) -> bytes:
        return self.local.produce(nonce, context)

    def references(self, name: str = "golden") -> ReferenceValues:
        return ReferenceValues.record(
            self.attester, self.selection, self.events, name=name, release="0.1.0"
        )

    def power_cycle(self, orderly: bool = True) -> None:
        """A TPM Reset, then the boot and measurements again (PCRs start from zero)."""
        if self.swtpm is not None:
            self.swtpm.power_cycle(orderly)
        else:
            assert isinstance(self.attester, SoftwareAttester)
            self.attester.power_cycle()
            if not orderly:
                self.attester.mark_unsafe()
            self.clock.ms += 5_000
        self.boot()

    def restart(self) -> None:
        """A TPM Restart/Resume: counters move, PCRs 0-15 are kept, nothing is re-measured."""
        if self.swtpm is not None:
            self.swtpm.restart_tpm()
        else:
            assert isinstance(self.attester, SoftwareAttester)
            self.attester.restart()
            self.clock.ms += 5_000

    def clock_info(self) -> ClockInfo:
        if isinstance(self.attester, TpmAttester):
            return self.attester.read_clock()
        assert isinstance(self.attester, SoftwareAttester)
        a = self.attester
        return ClockInfo(self.clock.ms, a.reset_count, a.restart_count, a.safe)

    def snapshot(self) -> dict[str, bytes]:
        """The TPM's non-volatile state as files (what an attacker with disk access copies)."""
        if self.swtpm is not None:
            state = self.swtpm.state_dir
            return {p.name: p.read_bytes() for p in state.iterdir() if p.name != "swtpm.log"}
        return {self._state.name: self._state.read_bytes()}

    def restore(self, snapshot: dict[str, bytes]) -> None:
        """Put an old non-volatile state back and start from it (then boot and measure)."""
        if self.swtpm is not None:
            self.swtpm.stop()
            for name, data in snapshot.items():
                (self.swtpm.state_dir / name).write_bytes(data)
            self.swtpm.start()
        else:
            for name, data in snapshot.items():
                (self._state.parent / name).write_bytes(data)
            self.attester = SoftwareAttester(self._key, self._state, self.clock)
        self.boot()

    def close(self) -> None:
        self.attester.close()
        if self.swtpm is not None:
            self.swtpm.stop()


def verifier_for(
    pki_dir: Path,
    references: ReferenceValues,
    selection: tuple[PcrBank, ...] = DEFAULT_SELECTION,
    trust: TrustStore | None = None,
) -> Verifier:
    store = trust if trust is not None else TrustStore.from_pki_dir(pki_dir)
    return Verifier(store, references, Policy(), selection)


def program_file(directory: Path, name: str, content: bytes) -> Item:
    """A stand-in program file measured like the daemon's own (kind ``executable``)."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return ("executable", f"apmip-extra/{name}", path)


def config_file(path: Path, text: str) -> Item:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return config_items([path])[0]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
