"""Registration throughput of the engines: plain PMIPv6 against attested, in one run.

An LMA and a MAG engine exchange real encoded messages in memory (no sockets), so the figures
are the protocol's own cost per registration on one core: codec, checks, binding state and,
for the attested cases, quotes from the software attester and full appraisals by the verifier.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
import time
import tracemalloc
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from apmip.attest import pki
from apmip.attest.boot import simulate_boot
from apmip.attest.local import DEFAULT_SELECTION, LocalEvidence
from apmip.attest.measure import DEFAULT_APP_PCR, config_items, measure
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.software import SoftwareAttester
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier
from apmip.core.events import Output
from apmip.core.lma import LmaEngine, LmaSettings
from apmip.core.mag import MagEngine, MagSettings
from apmip.core.trust import TrustSettings

from . import BenchResult

LMA, MAG = "2001:db8::1", "2001:db8::2"


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()


def _node(root: Path, name: str, serial: str) -> tuple[LocalEvidence, ReferenceValues]:
    now = dt.datetime.now(dt.UTC)
    paths = pki.issue_device(root, name, serial, now)
    assert paths.ak_key is not None
    attester = SoftwareAttester(paths.ak_key, root / f"{name}.json", lambda: 1000)
    attester.power_cycle()
    config = root / f"{name}.conf"
    config.write_text(f"node {name}\n")
    events = simulate_boot(attester) + measure(attester, config_items([config]), DEFAULT_APP_PCR)
    refs = ReferenceValues.record(
        attester, DEFAULT_SELECTION, events, name=name, serials=(serial,)
    )
    ak_der = pki.load_cert(paths.ak_cert).public_bytes(Encoding.DER)
    return LocalEvidence(attester, ak_der, DEFAULT_SELECTION, events), refs


def _pair(root: Path, attested: bool, trust_lifetime: float) -> tuple[LmaEngine, MagEngine]:
    trust = TrustSettings(enabled=attested, trust_lifetime=trust_lifetime)
    if not attested:
        lma = LmaEngine(
            LmaSettings(address=LMA, trust=trust, min_delay_before_delete=0.0),
            nonces=secrets.token_bytes,
        )
        mag = MagEngine(MagSettings(address=MAG, lma=LMA, trust=trust), nonces=secrets.token_bytes)
        return lma, mag
    lma_ev, lma_refs = _node(root, "lma", "LMA-1")
    mag_ev, mag_refs = _node(root, "mag", "MAG-1")
    store = TrustStore.from_pki_dir(root)

    def verifier(refs: ReferenceValues) -> Verifier:
        return Verifier(store, refs, Policy(), DEFAULT_SELECTION)

    lma = LmaEngine(
        LmaSettings(address=LMA, trust=trust, min_delay_before_delete=0.0),
        nonces=secrets.token_bytes,
        appraiser=verifier(mag_refs),
        evidence=lma_ev,
    )
    mag = MagEngine(
        MagSettings(address=MAG, lma=LMA, trust=trust),
        nonces=secrets.token_bytes,
        appraiser=verifier(lma_refs),
        evidence=mag_ev,
    )
    return lma, mag


def _deliver(lma: LmaEngine, mag: MagEngine, out: Output, now: float) -> None:
    queue = [(d, MAG) for d in out.datagrams]
    while queue:
        datagram, source = queue.pop()
        if datagram.peer == LMA:
            reply = lma.receive(datagram.data, source, now)
            queue.extend((d, LMA) for d in reply.datagrams)
        else:
            reply = mag.receive(datagram.data, source, now)
            queue.extend((d, MAG) for d in reply.datagrams)


def _registrations(lma: LmaEngine, mag: MagEngine, count: int, clock: _Clock) -> float:
    """Attach and detach ``count`` mobile nodes; return attach+detach pairs per second."""
    ids = [f"mn{i}@bench.example".encode() for i in range(count)]
    start = time.perf_counter()
    for mn in ids:
        clock.now += 0.001
        _deliver(lma, mag, mag.attach(mn, 4, clock.now), clock.now)
        clock.now += 0.001
        _deliver(lma, mag, mag.detach(mn, clock.now), clock.now)
    elapsed = time.perf_counter() - start
    assert not mag.bul, "a registration did not complete"
    lma.poll(clock.now + 1.0)
    return count / elapsed


def _memory_per_binding(count: int, clock: _Clock) -> tuple[float, float]:
    """Bytes held per registered mobile node by the LMA and by the MAG (tracemalloc)."""
    lma, mag = _pair(Path("."), False, 300.0)
    tracemalloc.start()
    try:
        for i in range(count):
            clock.now += 0.001
            _deliver(
                lma, mag, mag.attach(f"mn{i}@bench.example".encode(), 4, clock.now), clock.now
            )
        # measure each side alone: the other side's state is dropped first
        both = tracemalloc.get_traced_memory()[0]
        mag.bul.clear()
        after_mag = tracemalloc.get_traced_memory()[0]
        lma.cache.clear()
        lma._owners.clear()
        empty = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert both >= after_mag >= empty
    return (after_mag - empty) / count, (both - after_mag) / count


def run(quick: bool) -> list[BenchResult]:
    count = 200 if quick else 2000
    fresh_count = max(20, count // 10)
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="apmip-bench-") as folder:
        session_root, fresh_root = Path(folder) / "session", Path(folder) / "fresh"
        for root in (session_root, fresh_root):
            root.mkdir()
            pki.init_ca(root, dt.datetime.now(dt.UTC))
        plain_pair = _pair(session_root, False, 300.0)
        session_pair = _pair(session_root, True, 1e6)
        # alternate the two in rounds and keep each one's best, so that other work on the
        # machine slows neither figure more than the other
        plain = session = 0.0
        for _ in range(5):
            plain = max(plain, _registrations(*plain_pair, count // 5, clock))
            session = max(session, _registrations(*session_pair, count // 5, clock))
        # a trust lifetime shorter than one step: every message is challenged and appraised
        fresh = _registrations(*_pair(fresh_root, True, 1e-6), fresh_count, clock)
    lma_memory, mag_memory = _memory_per_binding(2000 if quick else 20000, clock)
    return [
        BenchResult("plain PMIPv6 attach+detach", plain, "per s"),
        BenchResult(
            "attested, within a trust session", session, "per s", f"{session / plain:.2f} x plain"
        ),
        BenchResult(
            "attested, full mutual appraisal every message",
            fresh,
            "per s",
            f"{fresh / plain:.3f} x plain",
        ),
        BenchResult("LMA memory per binding", lma_memory, "bytes", "binding cache entry"),
        BenchResult("MAG memory per binding", mag_memory, "bytes", "binding update list entry"),
    ]
