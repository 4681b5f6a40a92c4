"""An in-memory network of one LMA and several MAGs with an injected clock.

Datagrams are queued between the engines and delivered in order; a test may drop, replay or
rewrite any of them. Attestation uses a stand-in appraiser whose evidence is the qualifying
data itself behind a platform tag, so that the binding to nonce and context is still checked.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from apmip.attest.binding import SignallingContext, qualifying_data
from apmip.core.events import Datagram, Event, Output
from apmip.core.lma import LmaEngine, LmaSettings
from apmip.core.mag import MagEngine, MagSettings
from apmip.core.trust import TrustSettings

LMA = "2001:db8::1"


@dataclass(frozen=True)
class FakeResult:
    verdict: str
    reason: str = ""
    aspect: str = ""
    message: str = ""


class TaggedEvidence:
    """Evidence = platform tag + qualifying data, like a quote without the signature."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.produced: list[SignallingContext] = []

    def produce(self, nonce: bytes, context: SignallingContext) -> bytes:
        self.produced.append(context)
        return self.tag + qualifying_data(nonce, context)


class TagAppraiser:
    """Accepts evidence from the ``good`` tags that answers the nonce and context given."""

    def __init__(self, good: set[bytes]) -> None:
        self.good = good
        self.calls = 0

    def appraise(
        self,
        evidence: bytes,
        nonce: bytes,
        context: SignallingContext,
        previous: Any = None,
        now: Any = None,
    ) -> FakeResult:
        self.calls += 1
        tag, extra = evidence[:-32], evidence[-32:]
        if not hmac.compare_digest(extra, qualifying_data(nonce, context)):
            return FakeResult("reject", "nonce", "instance-identity", "extraData mismatch")
        if tag not in self.good:
            return FakeResult("reject", "reference", "configuration", f"platform {tag!r}")
        return FakeResult("accept", "", "", f"platform {tag.decode()}")


class CountingNonces:
    """Deterministic stand-in for the random source."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.count = 0

    def __call__(self, size: int) -> bytes:
        self.count += 1
        digest = hashlib.sha256(f"{self.seed}/{self.count}".encode()).digest()
        return (digest * (size // 32 + 1))[:size]


@dataclass
class Network:
    now: float = 1_800_000_000.0
    lma: LmaEngine | None = None
    mags: dict[str, MagEngine] = field(default_factory=dict)
    queue: list[tuple[Datagram, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wire_log: list[tuple[str, str, bytes]] = field(default_factory=list)
    drop_next: int = 0

    def node(self, address: str) -> LmaEngine | MagEngine:
        if address == LMA:
            assert self.lma is not None
            return self.lma
        return self.mags[address]

    def take(self, output: Output, source: str) -> None:
        self.events.extend(output.events)
        for datagram in output.datagrams:
            self.queue.append((datagram, source))

    def run(self) -> list[Event]:
        """Deliver every queued datagram (and what it causes); return the new events."""
        start = len(self.events)
        rounds = 0
        while self.queue:
            rounds += 1
            assert rounds < 100, "message loop"
            datagram, source = self.queue.pop(0)
            self.wire_log.append((source, datagram.peer, datagram.data))
            if self.drop_next:
                self.drop_next -= 1
                continue
            target = self.node(datagram.peer)
            self.take(target.receive(datagram.data, source, self.now), datagram.peer)
        return self.events[start:]

    def advance(self, seconds: float) -> list[Event]:
        """Move the clock and fire every engine's timers that fell due."""
        start = len(self.events)
        self.now += seconds
        assert self.lma is not None
        self.take(self.lma.poll(self.now), LMA)
        for address, mag in self.mags.items():
            self.take(mag.poll(self.now), address)
        self.run()
        return self.events[start:]


def build(
    mags: dict[str, bytes],
    lma_tag: bytes = b"lma-good",
    good: set[bytes] | None = None,
    attest: bool = True,
    **lma_options: Any,
) -> Network:
    """An LMA and MAGs at the given addresses with the given platform tags."""
    good = good if good is not None else {b"lma-good", b"mag-good"}
    net = Network()
    trust = TrustSettings(enabled=attest, trust_lifetime=300.0, nonce_lifetime=10.0)
    net.lma = LmaEngine(
        LmaSettings(
            address=LMA,
            ipv6_checksum=True,
            trust=trust,
            min_delay_before_delete=1.0,
            **lma_options,
        ),
        nonces=CountingNonces("lma"),
        appraiser=TagAppraiser(good),
        evidence=TaggedEvidence(lma_tag),
    )
    for address, tag in mags.items():
        net.mags[address] = MagEngine(
            MagSettings(address=address, lma=LMA, lifetime=40.0, ipv6_checksum=True, trust=trust),
            nonces=CountingNonces(address),
            appraiser=TagAppraiser(good),
            evidence=TaggedEvidence(tag),
        )
    return net


def kinds(events: list[Event]) -> list[str]:
    return [event.kind for event in events]
