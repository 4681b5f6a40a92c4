"""The Local Mobility Anchor engine: the binding cache and the LMA side of attestation.

Theory of operation. A Proxy Binding Update (RFC 5213 section 5.3) passes, in this order:
decoding (a malformed message is dropped and counted); the mandatory options (each missing one
answered with its own status); the timestamp or sequence-number check (section 5.5), so that a
replayed message is refused before it costs an appraisal; the MAG's trust session (a MAG that
holds none is challenged with a nonce and status "attestation required", and its evidence over
that nonce is appraised when it comes back); and finally registration, re-registration,
handover or de-registration. The Proxy Binding Acknowledgement echoes the options RFC 5213
section 5.3.6 names and, when the MAG asked, carries this LMA's own evidence over the MAG's
nonce, bound to the same message.

Owns: the binding cache, prefix allocation, trust sessions with MAGs, counters.
Never: reads the clock or the random source, touches a socket or the TPM directly.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from apmip.attest.binding import SignallingContext
from apmip.errors import DecodeError, PeerError
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
from apmip.wire.registry import Status
from apmip.wire.session import key_share_option, mac_placeholder, read_key_share

from . import session
from .common import (
    ALL_ZERO_PREFIX,
    LIFETIME_UNIT,
    PeerLog,
    as_ipv6,
    decode_or_drop,
    lifetime_units,
    mn_label,
    seq_newer,
    with_checksum,
)
from .events import Output
from .trust import Appraiser, EvidenceSource, TrustSettings, TrustTable

log = logging.getLogger(__name__)


# candidate prefixes tried before a registration is refused with INSUFFICIENT_RESOURCES
MAX_PROBES = 65536
DEFAULT_POOL = IPv6Network("2001:db8:8000::/40")  # documentation space, RFC 3849


@dataclass(frozen=True)
class LmaSettings:
    """Configuration of one LMA; durations in seconds."""

    address: str
    prefix_pool: IPv6Network = DEFAULT_POOL
    prefix_length: int = 64
    max_lifetime: float = 3600.0
    # RFC 5213 section 9: MinDelayBeforeBCEDelete 10000 ms, TimestampValidityWindow 300 ms.
    min_delay_before_delete: float = 10.0
    timestamp_window: float = 0.3
    ipv6_checksum: bool = False
    trust: TrustSettings = field(default_factory=TrustSettings)

    def __post_init__(self) -> None:
        if not self.prefix_pool.prefixlen <= self.prefix_length <= 128:
            raise ValueError(
                f"prefix_length {self.prefix_length} must lie between the pool's "
                f"/{self.prefix_pool.prefixlen} and 128"
            )


@dataclass
class BindingCacheEntry:
    """One mobility session (RFC 5213 section 5.1)."""

    mn_id: bytes
    prefix: IPv6Network
    mag: str
    att: int
    hi: int
    lifetime: float
    registered: float
    expires: float
    sequence: int
    timestamp: int | None = None
    delete_at: float | None = None
    handovers: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "mn": mn_label(self.mn_id),
            "prefix": str(self.prefix),
            "mag": self.mag,
            "att": self.att,
            "handoff_indicator": self.hi,
            "lifetime": self.lifetime,
            "registered": self.registered,
            "expires": self.expires,
            "sequence": self.sequence,
            "handovers": self.handovers,
            "deleting": self.delete_at is not None,
        }


class LmaEngine:
    """Sans-I/O LMA: feed it datagrams and time, send what it returns."""

    def __init__(
        self,
        settings: LmaSettings,
        *,
        nonces: Callable[[int], bytes],
        appraiser: Appraiser | None = None,
        evidence: EvidenceSource | None = None,
    ) -> None:
        if settings.trust.enabled and evidence is None:
            raise ValueError("attestation is enabled but the LMA has no evidence source")
        self.settings = settings
        self.trust = TrustTable(settings.trust, appraiser, nonces)
        self._nonces = nonces
        self._evidence = evidence
        self.cache: dict[bytes, BindingCacheEntry] = {}
        self._owners: dict[IPv6Network, bytes] = {}
        self.counters: Counter[str] = Counter()
        self._peer_log = PeerLog(log)
        self._last_stamps: dict[bytes, int] = {}
        self._address6 = as_ipv6(settings.address)

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes, source: str, now: float) -> Output:
        """Handle one datagram from ``source``."""
        out = Output()
        self.counters["rx"] += 1
        pair = None
        if self.settings.ipv6_checksum:
            pair = (as_ipv6(source), self._address6)
        message = decode_or_drop(data, source, now, out, self.counters, pair, self._peer_log)
        if message is None:
            return out
        if not isinstance(message, BindingUpdate) or not message.proxy:
            # RFC 5213 section 5.3.1: only Proxy Binding Updates are for the LMA.
            self.counters["rx_unexpected"] += 1
            self._peer_log.warning(
                now,
                source,
                "unexpected messages",
                "dropped %s from %s: not a Proxy Binding Update",
                type(message).__name__,
                source,
            )
            out.emit("dropped", now, peer=source, reason="not-a-pbu")
            return out
        self.counters["rx_pbu"] += 1
        # the session key, if this PBU proves it holds it: only then is the answer MAC'd, so
        # that an unauthenticated sender never obtains a message the MAG would believe
        key = self.trust.session_key(source, now) if self.settings.trust.enabled else b""
        if key and not session.verify(data, key, session.TO_LMA, self.settings.trust.vendor_id):
            key = b""
        try:
            self._handle(message, key, source, now, out)
        except PeerError as exc:
            self.counters[f"status_{exc.status}"] += 1
            log.info("PBU from %s refused with status %d: %s", source, exc.status, exc)
            mn = message.find(MobileNodeIdentifier)
            out.emit(
                "pbu-refused",
                now,
                mn=mn_label(mn.identifier) if mn else "",
                peer=source,
                status=exc.status,
                reason=str(exc),
            )
            self._reply(message, source, exc.status, now, out, grant=Grant(key=key))
        return out

    def poll(self, now: float) -> Output:
        """Expire bindings whose lifetime ran out and finish delayed deletions."""
        out = Output()
        # a remembered timestamp older than the window can no longer pass the window check
        horizon = (now - self.settings.timestamp_window - 1.0) * 65536
        for mn_id, value in list(self._last_stamps.items()):
            if value < horizon and mn_id not in self.cache:
                del self._last_stamps[mn_id]
        for mn_id, entry in list(self.cache.items()):
            if entry.delete_at is not None and now >= entry.delete_at:
                self._remove(mn_id, now, out, "binding-deleted")
            elif now >= entry.expires:
                self._remove(mn_id, now, out, "binding-expired")
        return out

    def next_deadline(self) -> float | None:
        times = [
            e.delete_at if e.delete_at is not None else e.expires for e in self.cache.values()
        ]
        return min(times) if times else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "role": "lma",
            "address": self.settings.address,
            "bindings": [e.summary() for e in self.cache.values()],
            "peers": [p.summary() for p in self.trust.peers.values()],
            "counters": dict(self.counters),
        }

    # -- processing -----------------------------------------------------------------------

    def _handle(
        self, pbu: BindingUpdate, key: bytes, source: str, now: float, out: Output
    ) -> None:
        mn_opt = pbu.find(MobileNodeIdentifier)
        if mn_opt is None:
            raise PeerError(
                "no Mobile Node Identifier option", Status.MISSING_MN_IDENTIFIER_OPTION
            )
        mn_id = mn_opt.identifier
        entry = self.cache.get(mn_id)
        if pbu.lifetime and pbu.find(HomeNetworkPrefix) is None:
            raise PeerError(
                "no Home Network Prefix option", Status.MISSING_HOME_NETWORK_PREFIX_OPTION
            )
        if pbu.lifetime and pbu.find(HandoffIndicator) is None:
            raise PeerError("no Handoff Indicator option", Status.MISSING_HANDOFF_INDICATOR_OPTION)
        if pbu.lifetime and pbu.find(AccessTechnologyType) is None:
            raise PeerError(
                "no Access Technology Type option", Status.MISSING_ACCESS_TECH_TYPE_OPTION
            )
        if pbu.lifetime == 0 and entry is not None and entry.mag != source:
            # RFC 5213 section 5.3.5 (1): a de-registration from a MAG that no longer holds
            # the binding (it was handed over) is ignored, with no answer.
            self.counters["dereg_ignored"] += 1
            out.emit("dereg-ignored", now, mn=mn_label(mn_id), peer=source, current=entry.mag)
            return
        self._check_order(pbu, entry, source, now)

        grant = self._attestation_gate(pbu, key, mn_id, source, now, out)
        if grant is None:
            return
        if pbu.lifetime == 0:
            self._deregister(pbu, mn_id, entry, source, now, out, grant)
        else:
            self._register(pbu, mn_id, entry, source, now, out, grant)

    def _check_order(
        self, pbu: BindingUpdate, entry: BindingCacheEntry | None, source: str, now: float
    ) -> None:
        """RFC 5213 section 5.5: timestamps when present, else sequence numbers."""
        stamp = pbu.find(Timestamp)
        if stamp is not None:
            if abs(stamp.seconds - now) > self.settings.timestamp_window:
                raise PeerError(
                    f"timestamp {stamp.seconds:.3f} is {stamp.seconds - now:+.3f} s from this "
                    f"LMA's clock (window {self.settings.timestamp_window} s)",
                    Status.TIMESTAMP_MISMATCH,
                )
            mn = pbu.find(MobileNodeIdentifier)
            last = self._last_stamps.get(mn.identifier) if mn is not None else None
            if entry is not None and entry.timestamp is not None:
                last = max(last or 0, entry.timestamp)
            if last is not None and stamp.value <= last:
                raise PeerError(
                    f"timestamp {stamp.seconds:.6f} not after the accepted {last / 65536:.6f}",
                    Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
                )
            return
        if (
            entry is not None
            and entry.mag == source
            and not seq_newer(pbu.sequence, entry.sequence)
        ):
            raise PeerError(
                f"sequence {pbu.sequence} not after the accepted {entry.sequence}",
                Status.SEQUENCE_OUT_OF_WINDOW,
            )

    def _attestation_gate(
        self,
        pbu: BindingUpdate,
        key: bytes,
        mn_id: bytes,
        source: str,
        now: float,
        out: Output,
    ) -> Grant | None:
        """Let the PBU through (returning what the reply must carry), or challenge or refuse
        the MAG. None: the PBU was answered with a challenge."""
        settings = self.settings.trust
        if not settings.enabled:
            return Grant()
        try:
            carried = read_attestation(pbu, settings.vendor_id)
            mag_share = read_key_share(pbu, settings.vendor_id)
        except DecodeError as exc:
            self.counters["rx_bad_evidence"] += 1
            self._peer_log.warning(
                now,
                source,
                "bad attestation options",
                "attestation options from %s refused: %s",
                source,
                exc,
            )
            raise PeerError(
                f"attestation options malformed: {exc}", settings.status_failed
            ) from exc
        if key:
            return Grant(carried.request, key=key)
        if self.trust.trusted(source, now) and carried.evidence is None:
            # within a session only the key holder is trusted: a restarted MAG or another
            # sender on its address must attest again (the session itself stays)
            self.counters["rx_bad_mac"] += 1
            self._peer_log.warning(
                now,
                source,
                "unauthenticated PBUs",
                "PBU from %s in a trust session without a valid MAC",
                source,
            )
        label = mn_label(mn_id)
        nonce = self.trust.outstanding(source, now)
        if carried.evidence is None or nonce is None:
            # first contact, expired session, no MAC or a spent challenge: ask for evidence
            nonce = self.trust.challenge(source, now)
            self.counters["challenges"] += 1
            out.emit("challenge-sent", now, mn=label, peer=source, nonce=nonce.hex()[:16])
            options = attestation_options(
                AttestationRequest(nonce=nonce), None, settings.vendor_id
            )
            self._reply(pbu, source, settings.status_required, now, out, extra=options)
            return None
        if mag_share is None:
            self.counters["peer_refused"] += 1
            message = "the evidence came without a key share: no session key can be agreed"
            refused = self.trust.refuse(source, "no-key-share", message, now)
            out.emit("peer-appraised", now, mn=label, peer=source, **refused.outcome())
            raise PeerError(f"MAG refused: {message}", settings.status_failed)
        context = SignallingContext(
            "mag", source, self.settings.address, mn_id, pbu.sequence, mag_share
        )
        verdict = self.trust.appraise(source, carried.evidence, nonce, context, now)
        out.emit("peer-appraised", now, mn=label, peer=source, **verdict.outcome())
        if verdict.verdict not in ("accept", "warn"):
            self.counters["peer_refused"] += 1
            raise PeerError(
                f"MAG evidence refused: {verdict.reason}: {verdict.message}",
                settings.status_failed,
            )
        # the MAG is trusted: answer its key share with ours and keep the key both derive
        private, lma_share = session.new_share(self._nonces)
        # stored with the peer's trust session; verdict is that session's entry
        verdict.key = session.derive(
            private, mag_share, mag_share, lma_share, source, self.settings.address
        )
        return Grant(carried.request, lma_share, verdict.key)

    def _register(
        self,
        pbu: BindingUpdate,
        mn_id: bytes,
        entry: BindingCacheEntry | None,
        source: str,
        now: float,
        out: Output,
        grant: Grant,
    ) -> None:
        hnp = pbu.find(HomeNetworkPrefix)
        hi = pbu.find(HandoffIndicator)
        att = pbu.find(AccessTechnologyType)
        assert hnp is not None and hi is not None and att is not None
        prefix = self._prefix_for(mn_id, hnp.prefix, entry)
        lifetime = min(float(pbu.lifetime * LIFETIME_UNIT), self.settings.max_lifetime)
        stamp = pbu.find(Timestamp)
        label = mn_label(mn_id)
        if entry is None:
            entry = BindingCacheEntry(
                mn_id,
                prefix,
                source,
                att.value,
                hi.value,
                lifetime,
                now,
                now + lifetime,
                pbu.sequence,
            )
            self.cache[mn_id] = entry
            self._owners[prefix] = mn_id
            kind = "binding-created"
        elif entry.mag != source:
            old = entry.mag
            entry.mag = source
            entry.handovers += 1
            kind = "binding-handover"
            out.emit(kind, now, mn=label, peer=source, prefix=str(prefix), previous=old)
        else:
            kind = "binding-refreshed"
        entry.att, entry.hi, entry.lifetime = att.value, hi.value, lifetime
        entry.expires = now + lifetime
        entry.sequence = pbu.sequence
        entry.timestamp = stamp.value if stamp is not None else None
        self._remember_stamp(mn_id, stamp)
        entry.delete_at = None
        self.counters[kind.replace("-", "_")] += 1
        if kind != "binding-handover":
            out.emit(kind, now, mn=label, peer=source, prefix=str(prefix), lifetime=lifetime)
        log.info("%s: mn %s prefix %s via %s", kind, label, prefix, source)
        self._reply(
            pbu,
            source,
            Status.ACCEPTED,
            now,
            out,
            prefix=prefix,
            lifetime=lifetime,
            grant=grant,
        )

    def _deregister(
        self,
        pbu: BindingUpdate,
        mn_id: bytes,
        entry: BindingCacheEntry | None,
        source: str,
        now: float,
        out: Output,
        grant: Grant,
    ) -> None:
        label = mn_label(mn_id)
        if entry is not None:
            # RFC 5213 section 5.3.5 (2): accept now, delete after MinDelayBeforeBCEDelete
            entry.delete_at = now + self.settings.min_delay_before_delete
            stamp = pbu.find(Timestamp)
            entry.timestamp = stamp.value if stamp is not None else entry.timestamp
            self._remember_stamp(mn_id, stamp)
            entry.sequence = pbu.sequence
            self.counters["deregistrations"] += 1
            out.emit("binding-deregistered", now, mn=label, peer=source, prefix=str(entry.prefix))
        # a de-registration for an unknown binding is answered as accepted: it is what a
        # retransmitted de-registration whose first answer was lost finds
        self._reply(pbu, source, Status.ACCEPTED, now, out, lifetime=0.0, grant=grant)

    def _remember_stamp(self, mn_id: bytes, stamp: Timestamp | None) -> None:
        """Keep the last accepted timestamp of a mobile node beyond its binding: a PBU
        replayed after the entry was deleted must still be refused while its timestamp is
        inside the validity window (RFC 5213 section 5.5)."""
        if stamp is not None:
            self._last_stamps[mn_id] = stamp.value

    def _prefix_for(
        self, mn_id: bytes, wanted: IPv6Network, entry: BindingCacheEntry | None
    ) -> IPv6Network:
        """RFC 5213 section 5.3.2: keep, honour or allocate the mobile node's prefix."""
        if entry is not None:
            if wanted != ALL_ZERO_PREFIX and wanted != entry.prefix:
                raise PeerError(
                    f"prefix {wanted} differs from the binding's {entry.prefix}",
                    Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH,
                )
            return entry.prefix
        if wanted != ALL_ZERO_PREFIX:
            # only a whole prefix of the pool's grid: a shorter or longer one would overlap
            # prefixes of other mobile nodes
            owner = self._owners.get(wanted)
            if (
                wanted.prefixlen != self.settings.prefix_length
                or not wanted.subnet_of(self.settings.prefix_pool)
                or owner not in (None, mn_id)
            ):
                raise PeerError(
                    f"prefix {wanted} is not this mobile node's to claim (prefixes here are "
                    f"/{self.settings.prefix_length} of {self.settings.prefix_pool})",
                    Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                )
            return wanted
        return self._allocate(mn_id)

    def _allocate(self, mn_id: bytes) -> IPv6Network:
        """A free prefix, searched from a place derived from the mobile node identifier.

        The binding cache is not persisted: deriving the first candidate from the identifier
        gives a mobile node the same prefix again after an LMA restart (as long as no other
        node took it), instead of handing the first prefixes to whoever registers first,
        while their owners still use them."""
        pool = self.settings.prefix_pool
        size = 1 << (self.settings.prefix_length - pool.prefixlen)
        step = 1 << (128 - self.settings.prefix_length)
        start = int.from_bytes(hashlib.sha256(mn_id).digest()[:8], "big") % size
        for offset in range(min(size, MAX_PROBES)):
            index = (start + offset) % size
            address = IPv6Address(int(pool.network_address) + index * step)
            candidate = IPv6Network((address, self.settings.prefix_length))
            if candidate not in self._owners:
                return candidate
        raise PeerError(
            f"no free prefix in {pool} after {min(size, MAX_PROBES)} tries",
            Status.INSUFFICIENT_RESOURCES,
        )

    def _remove(self, mn_id: bytes, now: float, out: Output, kind: str) -> None:
        entry = self.cache.pop(mn_id)
        self._owners.pop(entry.prefix, None)
        self.counters[kind.replace("-", "_")] += 1
        out.emit(kind, now, mn=mn_label(mn_id), peer=entry.mag, prefix=str(entry.prefix))
        log.info("%s: mn %s prefix %s", kind, mn_label(mn_id), entry.prefix)

    # -- output ---------------------------------------------------------------------------

    def _reply(
        self,
        pbu: BindingUpdate,
        peer: str,
        status: int,
        now: float,
        out: Output,
        *,
        prefix: IPv6Network | None = None,
        lifetime: float = 0.0,
        grant: Grant | None = None,
        extra: tuple[Any, ...] = (),
    ) -> None:
        """Build the PBA (RFC 5213 section 5.3.6): echo the options, add evidence if asked,
        and the MAC of the trust session if there is one."""
        options: list[Any] = []
        mn = pbu.find(MobileNodeIdentifier)
        if mn is not None:
            options.append(mn)
        hnp = pbu.find(HomeNetworkPrefix)
        if prefix is not None:
            options.append(HomeNetworkPrefix(prefix=prefix))
        elif hnp is not None:
            options.append(hnp)
        for kind in (HandoffIndicator, AccessTechnologyType):
            found = pbu.find(kind)
            if found is not None:
                options.append(found)
        stamp = pbu.find(Timestamp)
        if stamp is not None:
            # RFC 5213 section 5.5: echo a valid timestamp, else send this LMA's time of day
            bad = status in (Status.TIMESTAMP_MISMATCH, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
            options.append(Timestamp.from_seconds(now) if bad else stamp)
        options.extend(extra)
        vendor = self.settings.trust.vendor_id
        if status < 128 and grant is not None and grant.request and self._evidence:
            context = SignallingContext(
                "lma",
                self.settings.address,
                peer,
                mn.identifier if mn else b"",
                pbu.sequence,
                grant.share,
            )
            blob = self._evidence.produce(grant.request.nonce, context)
            options.extend(attestation_options(None, blob, vendor))
            self.counters["evidence_sent"] += 1
        if status < 128 and grant is not None and grant.share:
            options.append(key_share_option(grant.share, vendor))
        key = grant.key if grant is not None else b""
        if key:
            options.append(mac_placeholder(vendor))
        pba = BindingAck(
            status=int(status),
            sequence=pbu.sequence,
            lifetime=lifetime_units(lifetime),
            key_mgmt=False,
            mobile_router=False,
            proxy=True,
            options=tuple(options),
        )
        data = mh.encode(pba)
        if key:
            data = session.seal(data, key, session.TO_MAG, vendor)
        if self.settings.ipv6_checksum:
            data = with_checksum(data, self._address6, as_ipv6(peer))
        self.counters["tx_pba"] += 1
        out.send(data, peer)


@dataclass(frozen=True)
class Grant:
    """What a reply must carry: evidence over the MAG's nonce if it asked, this LMA's key
    share when a session key was just agreed, and the MAC of the session."""

    request: AttestationRequest | None = None
    share: bytes = b""
    # the session key to MAC the reply with: the PBU proved it, or it was just agreed
    key: bytes = b""
