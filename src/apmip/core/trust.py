"""Per-peer trust sessions: challenges handed out, and the outcome of the last appraisal.

A hardware TPM needs tens to hundreds of milliseconds per quote, and an anchor sees thousands
of PBUs a second, so a peer is appraised once per trust session rather than per message. A
session starts with a full appraisal of evidence that answers a nonce this node chose and is
bound to the signalling message that carried it, and lasts ``trust_lifetime`` seconds; after
that the peer is challenged again. A refused answer does not end a running session (only the
holder of its key can use it) and earns none, so each later message without the key is
challenged afresh.

Owns: the outstanding nonce per peer, the trust sessions, the last clock state per peer.
Never: reads the clock or the random source (``now`` and ``nonces`` come in).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apmip.attest.binding import SignallingContext

log = logging.getLogger(__name__)

NONCE_SIZE = 32
# peers remembered at most; beyond, those without a trust session are forgotten first
MAX_PEERS = 4096


class Appraiser(Protocol):
    """The verifier as the engines see it (apmip.attest.verifier.Verifier)."""

    def appraise(
        self,
        evidence: bytes,
        nonce: bytes,
        context: SignallingContext,
        previous: Any = None,
        now: dt.datetime | None = None,
    ) -> Any: ...


class EvidenceSource(Protocol):
    """This node's own evidence (apmip.attest.local.LocalEvidence)."""

    def produce(self, nonce: bytes, context: SignallingContext) -> bytes: ...


@dataclass(frozen=True)
class TrustSettings:
    """How a node attests and appraises; all durations in seconds."""

    enabled: bool = True
    trust_lifetime: float = 300.0
    nonce_lifetime: float = 10.0
    vendor_id: int = 32473
    status_required: int = 220
    status_failed: int = 221

    def __post_init__(self) -> None:
        if self.trust_lifetime <= 0 or self.nonce_lifetime <= 0:
            raise ValueError(
                f"trust_lifetime {self.trust_lifetime} and nonce_lifetime "
                f"{self.nonce_lifetime} must be positive"
            )
        if not 128 <= self.status_required <= 255 or not 128 <= self.status_failed <= 255:
            raise ValueError(
                f"attestation statuses {self.status_required}, {self.status_failed} must be "
                "rejection codes in 128..255 (RFC 6275 section 6.1.8)"
            )


@dataclass
class PeerTrust:
    """What this node knows of one peer's platform."""

    peer: str
    verdict: str = "unknown"
    reason: str = ""
    message: str = ""
    aspect: str = ""
    device: str = ""
    appraised_at: float | None = None
    expires: float = 0.0
    appraisals: int = 0
    refusals: int = 0
    result: Any = None
    clock: Any = None
    nonce: bytes = b""
    nonce_issued: float = 0.0
    # the session key agreed with the peer after both appraisals (apmip.core.session)
    key: bytes = b""
    history: list[str] = field(default_factory=list)

    def is_trusted(self, now: float) -> bool:
        """Whether a trust session is running (``expires`` is only ever set by an accepting
        appraisal; a later refused answer from the same address does not end it, since only
        the holder of the session key can use it)."""
        return now < self.expires

    @property
    def accepted(self) -> bool:
        return self.verdict in ("accept", "warn")

    def outcome(self) -> dict[str, str]:
        """The last appraisal's verdict, reason, aspect and message, for events."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "aspect": self.aspect,
            "message": self.message,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "verdict": self.verdict,
            "reason": self.reason,
            "aspect": self.aspect,
            "message": self.message,
            "device": self.device,
            "appraised_at": self.appraised_at,
            "expires": self.expires,
            "appraisals": self.appraisals,
            "refusals": self.refusals,
        }


class TrustTable:
    """Trust sessions with every peer of one node."""

    def __init__(
        self,
        settings: TrustSettings,
        appraiser: Appraiser | None,
        nonces: Callable[[int], bytes],
        max_peers: int = MAX_PEERS,
    ) -> None:
        if settings.enabled and appraiser is None:
            raise ValueError("attestation is enabled but no appraiser was given")
        self.settings = settings
        self._appraiser = appraiser
        self._nonces = nonces
        self.peers: dict[str, PeerTrust] = {}
        self.max_peers = max_peers
        self.evictions = 0

    def get(self, peer: str) -> PeerTrust:
        entry = self.peers.get(peer)
        if entry is None:
            if len(self.peers) >= self.max_peers:
                self._evict()
            entry = self.peers[peer] = PeerTrust(peer)
        return entry

    def _evict(self) -> None:
        """Bound the table against floods from many (possibly spoofed) sources: forget the
        peers without a trust session, those heard from longest ago first."""
        idle = sorted(
            (p for p in self.peers.values() if p.expires == 0.0),
            key=lambda p: max(p.nonce_issued, p.appraised_at or 0.0),
        )
        victims = idle[: max(1, len(self.peers) // 2)]
        for entry in victims:
            del self.peers[entry.peer]
        self.evictions += 1
        log.warning(
            "trust table full (%d peers): forgot %d idle peers", self.max_peers, len(victims)
        )

    def trusted(self, peer: str, now: float) -> bool:
        if not self.settings.enabled:
            return True
        entry = self.peers.get(peer)
        return entry is not None and entry.is_trusted(now)

    def challenge(self, peer: str, now: float) -> bytes:
        """The nonce the peer must answer; one outstanding per peer, reused while fresh.

        Reuse keeps concurrent first registrations of many mobile nodes from invalidating each
        other's challenge; the evidence is still bound to each message's own context, and the
        nonce is spent by the first appraisal that uses it.
        """
        entry = self.get(peer)
        if not entry.nonce or now - entry.nonce_issued >= self.settings.nonce_lifetime:
            entry.nonce = self._nonces(NONCE_SIZE)
            entry.nonce_issued = now
        return entry.nonce

    def outstanding(self, peer: str, now: float) -> bytes | None:
        entry = self.peers.get(peer)
        if entry is None or not entry.nonce:
            return None
        if now - entry.nonce_issued >= self.settings.nonce_lifetime:
            return None
        return entry.nonce

    def appraise(
        self, peer: str, evidence: bytes, nonce: bytes, context: SignallingContext, now: float
    ) -> PeerTrust:
        """Appraise evidence over ``nonce``; on success spend the nonce and open a session.

        A refusal changes neither the nonce nor a running session: whoever can send from the
        peer's address could otherwise end the session of the genuine peer, or spend the
        nonce its genuine answer is about to use, without proving anything."""
        assert self._appraiser is not None
        entry = self.get(peer)
        # certificate validity is judged at the engine's notion of now, not the host clock
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        result = self._appraiser.appraise(evidence, nonce, context, entry.clock, now=when)
        entry.appraisals += 1
        entry.result = result
        entry.verdict = str(result.verdict)
        entry.reason = str(result.reason)
        entry.aspect = str(getattr(result, "aspect", "") or "")
        entry.message = str(getattr(result, "message", "") or "")
        entry.device = str(getattr(result, "serial", "") or "")
        entry.appraised_at = now
        if entry.accepted:
            if entry.nonce and hmac.compare_digest(entry.nonce, nonce):
                entry.nonce = b""
            entry.expires = now + self.settings.trust_lifetime
            entry.clock = getattr(result, "clock", None) or entry.clock
        else:
            entry.refusals += 1
        entry.history.append(f"{now:.3f} {entry.verdict} {entry.reason}")
        del entry.history[:-16]
        log.info(
            "appraised %s: %s (%s) %s", peer, entry.verdict, entry.reason or "-", entry.message
        )
        return entry

    def refuse(self, peer: str, reason: str, message: str, now: float) -> PeerTrust:
        """Record a refusal decided before any appraisal (the answer lacked what it needs)."""
        entry = self.get(peer)
        entry.verdict, entry.reason, entry.message = "reject", reason, message
        entry.aspect, entry.appraised_at = "instance-identity", now
        entry.refusals += 1
        return entry

    def forget(self, peer: str) -> None:
        """End the session with a peer (policy change, restart seen): it is challenged anew."""
        entry = self.peers.get(peer)
        if entry is not None:
            entry.expires = 0.0
            entry.key = b""

    def session_key(self, peer: str, now: float) -> bytes:
        """The key of the current trust session with ``peer``, or b"" outside one."""
        entry = self.peers.get(peer)
        return entry.key if entry is not None and entry.is_trusted(now) else b""
