"""The Mobile Access Gateway engine: the binding update list and the MAG side of attestation.

Theory of operation. When a mobile node attaches, the MAG sends a Proxy Binding Update (RFC
5213 section 6.9.1) and keeps a binding update list entry in state ``registering`` until the
matching Proxy Binding Acknowledgement arrives, retransmitting with a fresh timestamp and
sequence number and a doubling timeout (section 6.9.4). While it holds no trust session with
the LMA, every PBU carries a nonce of the MAG's, and an accepting PBA must carry the LMA's
evidence over that nonce, bound to the same message; if the evidence is missing or refused the
MAG installs nothing and withdraws the registration it just made. An LMA that answers
"attestation required" hands over its own nonce, and the MAG sends the PBU again with evidence
over it. Registered entries are refreshed before their lifetime ends.

Owns: the binding update list, the trust session with each LMA, counters.
Never: reads the clock or the random source, touches a socket or the TPM directly.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from typing import Any

from apmip.attest.binding import SignallingContext
from apmip.errors import DecodeError
from apmip.wire import mh
from apmip.wire.attestation import AttestationRequest, attestation_options, read_attestation
from apmip.wire.messages import BindingAck, BindingUpdate
from apmip.wire.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
)
from apmip.wire.registry import HandoffIndicator as Handoff
from apmip.wire.registry import Status
from apmip.wire.session import key_share_option, mac_placeholder, read_key_share

from . import session
from .common import (
    ALL_ZERO_PREFIX,
    PeerLog,
    as_ipv6,
    decode_or_drop,
    lifetime_units,
    mn_label,
    with_checksum,
)
from .events import Output
from .trust import Appraiser, EvidenceSource, TrustSettings, TrustTable

log = logging.getLogger(__name__)

# how often one registration may be sent "attestation required" before the MAG gives up
MAX_CHALLENGES = 2


@dataclass(frozen=True)
class MagSettings:
    """Configuration of one MAG; durations in seconds."""

    address: str
    lma: str
    lifetime: float = 3600.0
    # RFC 6275 section 13: INITIAL_BINDACK_TIMEOUT 1 s, MAX_BINDACK_TIMEOUT 32 s
    initial_timeout: float = 1.0
    max_timeout: float = 32.0
    max_retransmits: int = 6
    refresh_fraction: float = 0.75
    ipv6_checksum: bool = False
    trust: TrustSettings = field(default_factory=TrustSettings)


@dataclass
class BulEntry:
    """One binding update list entry (RFC 5213 section 6.1)."""

    mn_id: bytes
    att: int
    hi: int
    lma: str
    state: str = "registering"  # registering | registered | deregistering
    prefix: IPv6Network | None = None
    sequence: int = 0
    lifetime: float = 0.0
    started: float = 0.0
    timeout: float = 1.0
    next_send: float = 0.0
    retransmits: int = 0
    refresh_at: float = 0.0
    expires: float = 0.0
    asked: bytes = b""
    answer_nonce: bytes = b""
    challenges: int = 0
    registered_once: bool = False
    timestamp: int = 0
    # this MAG's key pair for the session key, sent with its evidence (apmip.core.session)
    private: Any = None
    share: bytes = b""
    # the session key the last PBU was MAC'd with: its answer must carry a MAC under it
    sent_key: bytes = b""
    # waiting for another registration's first contact with the LMA to agree a session
    waiting: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "mn": mn_label(self.mn_id),
            "state": self.state,
            "prefix": str(self.prefix) if self.prefix else None,
            "lma": self.lma,
            "att": self.att,
            "sequence": self.sequence,
            "lifetime": self.lifetime,
            "expires": self.expires,
            "retransmits": self.retransmits,
        }


class MagEngine:
    """Sans-I/O MAG: feed it attach/detach, datagrams and time; send what it returns."""

    def __init__(
        self,
        settings: MagSettings,
        *,
        nonces: Callable[[int], bytes],
        appraiser: Appraiser | None = None,
        evidence: EvidenceSource | None = None,
    ) -> None:
        if settings.trust.enabled and evidence is None:
            raise ValueError("attestation is enabled but the MAG has no evidence source")
        self.settings = settings
        self.trust = TrustTable(settings.trust, appraiser, nonces)
        self._evidence = evidence
        self._nonces = nonces
        self.bul: dict[bytes, BulEntry] = {}
        # the registration making the first contact with the LMA while there is no session
        self._attesting: bytes | None = None
        self.counters: Counter[str] = Counter()
        self._peer_log = PeerLog(log)

    # -- commands from the access network -------------------------------------------------

    def attach(
        self, mn_id: bytes, att: int, now: float, handoff: int = Handoff.NEW_INTERFACE
    ) -> Output:
        """A mobile node attached on this MAG's access link: register it with the LMA."""
        # check the values before any state changes: a bad command leaves nothing behind
        MobileNodeIdentifier(identifier=mn_id)
        AccessTechnologyType(value=att)
        HandoffIndicator(value=handoff)
        out = Output()
        entry = self.bul.get(mn_id)
        if entry is None:
            seq = int.from_bytes(self._nonces(2), "big")
            entry = self.bul[mn_id] = BulEntry(
                mn_id, att, handoff, self.settings.lma, sequence=seq
            )
        entry.att, entry.hi = att, handoff
        entry.state = "registering"
        self._start(entry, now, out)
        out.emit("attach", now, mn=mn_label(mn_id), peer=entry.lma, att=att, handoff=handoff)
        return out

    def detach(self, mn_id: bytes, now: float) -> Output:
        """The mobile node left: de-register (RFC 5213 section 6.9.1.2)."""
        out = Output()
        entry = self.bul.get(mn_id)
        if entry is None:
            out.emit("detach-unknown", now, mn=mn_label(mn_id))
            return out
        entry.state = "deregistering"
        self._start(entry, now, out)
        out.emit("detach", now, mn=mn_label(mn_id), peer=entry.lma)
        return out

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes, source: str, now: float) -> Output:
        out = Output()
        self.counters["rx"] += 1
        pair = None
        if self.settings.ipv6_checksum:
            pair = (as_ipv6(source), as_ipv6(self.settings.address))
        message = decode_or_drop(data, source, now, out, self.counters, pair, self._peer_log)
        if message is None:
            return out
        if not isinstance(message, BindingAck) or not message.proxy:
            self.counters["rx_unexpected"] += 1
            self._peer_log.warning(
                now,
                source,
                "unexpected messages",
                "dropped %s from %s: not a Proxy Binding Acknowledgement",
                type(message).__name__,
                source,
            )
            out.emit("dropped", now, peer=source, reason="not-a-pba")
            return out
        mn = message.find(MobileNodeIdentifier)
        entry = self.bul.get(mn.identifier) if mn is not None else None
        if entry is None or entry.lma != source or entry.sequence != message.sequence:
            # RFC 5213 section 6.9.1.1: a PBA must match an outstanding PBU
            self.counters["rx_unmatched"] += 1
            log.info("dropped unmatched PBA from %s, sequence %d", source, message.sequence)
            out.emit("dropped", now, peer=source, reason="unmatched", sequence=message.sequence)
            return out
        if entry.state == "registered":
            # the matching PBU was answered already: a duplicate
            self.counters["rx_duplicate"] += 1
            return out
        self.counters["rx_pba"] += 1
        self._handle(message, data, entry, now, out)
        return out

    def poll(self, now: float) -> Output:
        """Retransmit, refresh and expire as timers fall due."""
        out = Output()
        for entry in list(self.bul.values()):
            label = mn_label(entry.mn_id)
            if entry.waiting and now >= entry.next_send:
                # nothing was sent yet: no retransmission to count, just look again
                self._send(entry, now, out)
            elif entry.state in ("registering", "deregistering") and now >= entry.next_send:
                if entry.retransmits >= self.settings.max_retransmits:
                    self.counters["timeouts"] += 1
                    out.emit(
                        "registration-timeout",
                        now,
                        mn=label,
                        peer=entry.lma,
                        state=entry.state,
                        sent=entry.retransmits + 1,
                    )
                    self._drop_entry(entry, now, out)
                    continue
                entry.retransmits += 1
                entry.timeout = min(entry.timeout * 2, self.settings.max_timeout)
                self.counters["retransmits"] += 1
                self._send(entry, now, out)
            elif entry.state == "registered" and now >= entry.expires:
                out.emit("binding-expired", now, mn=label, peer=entry.lma)
                self._drop_entry(entry, now, out)
            elif entry.state == "registered" and now >= entry.refresh_at:
                entry.hi = Handoff.NOT_CHANGED  # RFC 5213 section 8.4: re-registration
                entry.state = "registering"
                self._start(entry, now, out)
        return out

    def next_deadline(self) -> float | None:
        times = []
        for entry in self.bul.values():
            if entry.state == "registered":
                times.append(min(entry.refresh_at, entry.expires))
            else:
                times.append(entry.next_send)
        return min(times) if times else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "role": "mag",
            "address": self.settings.address,
            "lma": self.settings.lma,
            "bindings": [e.summary() for e in self.bul.values()],
            "peers": [p.summary() for p in self.trust.peers.values()],
            "counters": dict(self.counters),
        }

    # -- processing -----------------------------------------------------------------------

    def _handle(
        self, pba: BindingAck, data: bytes, entry: BulEntry, now: float, out: Output
    ) -> None:
        label = mn_label(entry.mn_id)
        settings = self.settings.trust
        latency = now - entry.started
        # whether an answer must be authenticated follows from how the PBU was sent
        key = entry.sent_key
        if key and session.verify(data, key, session.TO_MAG, settings.vendor_id):
            pass
        elif key and pba.status == settings.status_required and self._challenge_of(pba):
            # the LMA no longer holds our session (it restarted, or its session ended): attest
            # both ways afresh, so a changed LMA is appraised before it is used again. A
            # forged challenge costs a new appraisal, never a binding.
            self.trust.forget(entry.lma)
            out.emit("session-lost", now, mn=label, peer=entry.lma)
        elif key:
            self.counters["rx_bad_mac"] += 1
            self._peer_log.warning(
                now,
                entry.lma,
                "unauthenticated PBAs",
                "dropped PBA from %s without a valid MAC in a trust session",
                entry.lma,
            )
            out.emit("dropped", now, peer=entry.lma, reason="bad-mac", sequence=pba.sequence)
            return
        if pba.status < 128:
            if entry.state == "deregistering":
                out.emit("binding-removed", now, mn=label, peer=entry.lma, latency=latency)
                self._forget(entry)
                return
            if not self._lma_trusted(pba, data, entry, now, out):
                return
            self._install(pba, entry, now, out, latency)
        elif settings.enabled and pba.status == settings.status_required:
            self._answer_challenge(pba, entry, now, out)
        elif pba.status == Status.SEQUENCE_OUT_OF_WINDOW:
            # RFC 6275 section 11.7.1: continue from the sequence number the LMA holds
            entry.sequence = pba.sequence
            self._send(entry, now, out)
        else:
            self.counters[f"status_{pba.status}"] += 1
            refused = settings.enabled and pba.status == settings.status_failed
            out.emit(
                "refused-by-lma" if refused else "registration-failed",
                now,
                mn=label,
                peer=entry.lma,
                status=pba.status,
                latency=latency,
            )
            log.warning("LMA %s refused mn %s with status %d", entry.lma, label, pba.status)
            self._forget(entry)

    def _lma_trusted(
        self, pba: BindingAck, data: bytes, entry: BulEntry, now: float, out: Output
    ) -> bool:
        """Appraise the LMA's evidence if this registration asked for it, and agree the
        session key from the two key shares the evidence on each side was bound to."""
        settings = self.settings.trust
        if not settings.enabled or not entry.asked:
            return True
        if self.trust.trusted(entry.lma, now):
            return True
        label = mn_label(entry.mn_id)
        try:
            carried = read_attestation(pba, settings.vendor_id)
            lma_share = read_key_share(pba, settings.vendor_id)
        except DecodeError as exc:
            carried, lma_share = None, None
            problem = f"attestation options malformed: {exc}"
        else:
            problem = "the PBA carries no evidence"
        if carried is None or carried.evidence is None:
            return self._refuse_lma(entry, now, out, "no-evidence", problem)
        if lma_share is None or entry.private is None:
            return self._refuse_lma(
                entry,
                now,
                out,
                "no-key-share",
                "no session key could be agreed: the PBA carries no key share"
                if lma_share is None
                else "this MAG sent no key share",
            )
        context = SignallingContext(
            "lma", entry.lma, self.settings.address, entry.mn_id, entry.sequence, lma_share
        )
        verdict = self.trust.appraise(entry.lma, carried.evidence, entry.asked, context, now)
        out.emit("peer-appraised", now, mn=label, peer=entry.lma, **verdict.outcome())
        if verdict.verdict not in ("accept", "warn"):
            refusal = verdict.outcome()
            return self._refuse_lma(
                entry, now, out, refusal["reason"], refusal["message"], refusal["aspect"]
            )
        key = session.derive(
            entry.private, lma_share, entry.share, lma_share, self.settings.address, entry.lma
        )
        if not session.verify(data, key, session.TO_MAG, settings.vendor_id):
            self.trust.forget(entry.lma)
            return self._refuse_lma(
                entry, now, out, "bad-mac", "the PBA's MAC does not match the agreed key"
            )
        verdict.key = key  # the session's entry keeps it
        entry.private, entry.share = None, b""
        self._release(now, out)
        return True

    def _refuse_lma(
        self,
        entry: BulEntry,
        now: float,
        out: Output,
        reason: str,
        message: str,
        aspect: str = "instance-identity",
    ) -> bool:
        self.counters["lma_refused"] += 1
        self.trust.get(entry.lma).refusals += 1
        out.emit(
            "lma-refused",
            now,
            mn=mn_label(entry.mn_id),
            peer=entry.lma,
            reason=reason,
            aspect=aspect,
            message=message,
        )
        self._withdraw(entry, now, out)
        return False

    def _install(
        self, pba: BindingAck, entry: BulEntry, now: float, out: Output, latency: float
    ) -> None:
        hnp = pba.find(HomeNetworkPrefix)
        if hnp is None or hnp.prefix == ALL_ZERO_PREFIX or pba.lifetime == 0:
            self.counters["rx_bad_pba"] += 1
            out.emit(
                "registration-failed",
                now,
                mn=mn_label(entry.mn_id),
                peer=entry.lma,
                status=pba.status,
                reason="accepting PBA without a prefix or lifetime",
            )
            self._forget(entry)
            return
        first = not entry.registered_once
        entry.prefix = hnp.prefix
        # the LMA may grant less than asked (RFC 5213 section 5.3.6), never more
        entry.lifetime = float(min(pba.lifetime_seconds, self.settings.lifetime))
        entry.state = "registered"
        entry.registered_once = True
        entry.expires = now + entry.lifetime
        entry.refresh_at = now + entry.lifetime * self.settings.refresh_fraction
        entry.asked = b""
        entry.answer_nonce = b""
        kind = "binding-established" if first else "binding-refreshed"
        self.counters[kind.replace("-", "_")] += 1
        out.emit(
            kind,
            now,
            mn=mn_label(entry.mn_id),
            peer=entry.lma,
            prefix=str(entry.prefix),
            lifetime=entry.lifetime,
            latency=latency,
        )
        log.info(
            "%s: mn %s prefix %s lifetime %.0f s in %.1f ms",
            kind,
            mn_label(entry.mn_id),
            entry.prefix,
            entry.lifetime,
            latency * 1000,
        )

    def _answer_challenge(self, pba: BindingAck, entry: BulEntry, now: float, out: Output) -> None:
        label = mn_label(entry.mn_id)
        try:
            request = read_attestation(pba, self.settings.trust.vendor_id).request
        except DecodeError as exc:
            request = None
            log.warning("challenge from %s unreadable: %s", entry.lma, exc)
        if request is None:
            # not an answer this MAG can use (and a forged one must not end a registration)
            self.counters["rx_bad_challenge"] += 1
            out.emit("dropped", now, peer=entry.lma, reason="no-challenge", sequence=pba.sequence)
            return
        entry.challenges += 1
        if entry.challenges > MAX_CHALLENGES:
            out.emit(
                "registration-failed",
                now,
                mn=label,
                peer=entry.lma,
                status=pba.status,
                reason=f"challenged {entry.challenges} times in one registration",
            )
            self._forget(entry)
            return
        entry.answer_nonce = request.nonce
        out.emit("challenged", now, mn=label, peer=entry.lma, nonce=request.nonce.hex()[:16])
        self._send(entry, now, out)

    def _challenge_of(self, pba: BindingAck) -> bool:
        try:
            return read_attestation(pba, self.settings.trust.vendor_id).request is not None
        except DecodeError:
            return False

    # -- sending --------------------------------------------------------------------------

    def _start(self, entry: BulEntry, now: float, out: Output) -> None:
        entry.started = now
        entry.retransmits = 0
        entry.challenges = 0
        entry.timeout = self.settings.initial_timeout
        self._send(entry, now, out)

    def _send(self, entry: BulEntry, now: float, out: Output) -> None:
        """(Re)send the entry's PBU with a new sequence number and timestamp (section 6.9.4).

        Without a session with the LMA only one registration at a time makes the first
        contact; the others wait for the session it agrees, instead of each attesting with
        its own key share and overwriting each other's session key."""
        entry.next_send = now + entry.timeout
        if self._must_wait(entry, now):
            if not entry.waiting:
                entry.waiting = True
                out.emit(
                    "waiting",
                    now,
                    mn=mn_label(entry.mn_id),
                    peer=entry.lma,
                    behind=mn_label(self._attesting or b""),
                )
            return
        entry.waiting = False
        entry.sequence = (entry.sequence + 1) & 0xFFFF
        out.send(self._pbu(entry, now), entry.lma)
        self.counters["tx_pbu"] += 1

    def _must_wait(self, entry: BulEntry, now: float) -> bool:
        if not self.settings.trust.enabled or self.trust.session_key(entry.lma, now):
            return False
        attesting = self.bul.get(self._attesting) if self._attesting else None
        if attesting is None or attesting is entry or attesting.state == "registered":
            self._attesting = entry.mn_id
            return False
        return True

    def _release(self, now: float, out: Output) -> None:
        """Send what waited for the first contact (it succeeded, or it ended)."""
        self._attesting = None
        for entry in list(self.bul.values()):
            if entry.waiting:
                self._send(entry, now, out)

    def _pbu(self, entry: BulEntry, now: float) -> bytes:
        deregister = entry.state == "deregistering"
        options: list[Any] = [
            MobileNodeIdentifier(identifier=entry.mn_id),
            HomeNetworkPrefix(prefix=entry.prefix or ALL_ZERO_PREFIX),
            HandoffIndicator(value=entry.hi),
            AccessTechnologyType(value=entry.att),
            self._timestamp(entry, now),
        ]
        settings = self.settings.trust
        key = b""
        if settings.enabled:
            key = self.trust.session_key(entry.lma, now)
            request = None
            if not deregister and not key:
                entry.asked = self.trust.challenge(entry.lma, now)
                request = AttestationRequest(nonce=entry.asked)
            evidence = None
            if entry.answer_nonce:
                # a fresh key share with every answer, bound into the evidence
                assert self._evidence is not None
                entry.private, entry.share = session.new_share(self._nonces)
                context = SignallingContext(
                    "mag",
                    self.settings.address,
                    entry.lma,
                    entry.mn_id,
                    entry.sequence,
                    entry.share,
                )
                evidence = self._evidence.produce(entry.answer_nonce, context)
                self.counters["evidence_sent"] += 1
                key = b""  # the answer carries evidence; the session it renews is not used
            if request is not None or evidence is not None:
                options.extend(attestation_options(request, evidence, settings.vendor_id))
            if evidence is not None:
                options.append(key_share_option(entry.share, settings.vendor_id))
            if key:
                options.append(mac_placeholder(settings.vendor_id))
        pbu = BindingUpdate(
            sequence=entry.sequence,
            lifetime=0 if deregister else lifetime_units(self.settings.lifetime),
            ack=True,
            home=True,
            link_local=False,
            key_mgmt=False,
            map_reg=False,
            mobile_router=False,
            proxy=True,
            options=tuple(options),
        )
        data = mh.encode(pbu)
        entry.sent_key = key
        if key:
            data = session.seal(data, key, session.TO_LMA, settings.vendor_id)
        if self.settings.ipv6_checksum:
            data = with_checksum(data, as_ipv6(self.settings.address), as_ipv6(entry.lma))
        return data

    @staticmethod
    def _timestamp(entry: BulEntry, now: float) -> Timestamp:
        """Time of day, strictly above the last one sent for this node (RFC 5213 section 5.5):
        two messages within one 1/65536 s tick must still be told apart."""
        value = max(Timestamp.from_seconds(now).value, entry.timestamp + 1)
        entry.timestamp = value
        return Timestamp(value=value)

    def _withdraw(self, entry: BulEntry, now: float, out: Output) -> None:
        """Undo at the LMA a registration this MAG will not use (untrusted LMA).

        The de-registration is retransmitted like any other until the LMA answers, so the
        LMA is not left holding a binding for a MAG that refused it."""
        entry.answer_nonce = b""
        entry.asked = b""
        entry.state = "deregistering"
        self._start(entry, now, out)

    def _drop_entry(self, entry: BulEntry, now: float, out: Output) -> None:
        if entry.state == "registered":
            out.emit("binding-removed", now, mn=mn_label(entry.mn_id), peer=entry.lma)
        self._forget(entry)

    def _forget(self, entry: BulEntry) -> None:
        self.bul.pop(entry.mn_id, None)
        if self._attesting == entry.mn_id:
            self._attesting = None  # a waiting registration takes over at its next timer
