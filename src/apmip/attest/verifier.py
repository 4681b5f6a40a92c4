"""The verifier: appraises evidence bytes and says exactly why it refuses them.

Checks run in this order and the first failure stops the appraisal (docs/attestation.md,
"Appraisal"):

1. strict parsing of the evidence, the TPMS_ATTEST and the TPMT_SIGNATURE   ``malformed``
2. the attestation key: provisioned (``unknown-key``), chained to a trusted CA
   (``untrusted-ca``), within its validity when ``now`` is given (``expired``), its device
   serial not revoked (``revoked``)
3. the signature with the scheme and hash the certified key allows (``scheme``,
   ``signature``); an RSA signature must be exactly the modulus size
4. magic TPM_GENERATED_VALUE and type TPM_ST_ATTEST_QUOTE (``not-a-quote``)
5. extraData equals the qualifying data of the nonce and context, in constant time, or, for a
   batched quote, the Merkle root its inclusion path leads to from that data (``nonce``)
6. the PCR selection exactly as requested, and the evidence's PCR values for exactly that
   selection (``pcr-selection``)
7. the PCR digest over those values (``pcr-digest``)
8. values against the reference sets, with event replay (``reference``, ``no-reference``,
   ``log-replay``)
9. clock information against the previous accepted quote (``clock``, ``clock-unsafe``,
   ``reboot``, ``restart``, ``counter-rollback``)

:meth:`Verifier.appraise` never raises for bad evidence: it returns a result. It holds no
clock, socket or random source; ``now`` and the previous clock state are arguments.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.batch import EXTRA_BATCH, BatchProof
from apmip.attest.binding import SignallingContext, qualifying_data
from apmip.attest.eventlog import EventLog
from apmip.attest.events import EventHint, replay
from apmip.attest.evidence import Evidence, PcrValue
from apmip.attest.refvals import ReferenceSet, ReferenceValues
from apmip.attest.result import ASPECTS, AttestationResult, ClockState, Policy
from apmip.attest.trust import Device, TrustStore
from apmip.errors import AttestationError, EvidenceError, VerificationError

log = logging.getLogger(__name__)

# aspect of a PCR by its PC Client usage, when no event names the component
PCR_ASPECT = {
    0: "hardware",
    1: "configuration",
    2: "hardware",
    3: "configuration",
    4: "executables",
    5: "configuration",
    6: "hardware",
    7: "configuration",
    8: "configuration",
    9: "executables",
}
ECDSA_CURVES = {"secp256r1": ("sha256", 32), "secp384r1": ("sha384", 48)}
RSA_HASHES = ("sha256", "sha384", "sha512")
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
ECDSA = {name: ec.ECDSA(chosen) for name, chosen in HASHES.items()}


def pcr_aspect(index: int) -> str:
    return PCR_ASPECT.get(index, "executables" if index < 16 else "runtime")


@dataclass(frozen=True)
class _Wanted:
    """The extraData a quote must carry, or None with the reason it cannot be computed."""

    extra: bytes | None
    what: str


class _Appraisal:
    """Progress of one appraisal: tiers reached so far and warnings the policy allowed."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.tiers = dict.fromkeys(ASPECTS, "none")
        self.warnings: list[tuple[str, str, str, str]] = []  # verdict, reason, aspect, message
        self.device: Device | None = None
        self.clock: ClockState | None = None
        self.reference_set: str | None = None

    def affirm(self, *aspects: str) -> None:
        for aspect in aspects:
            if self.tiers[aspect] == "none":
                self.tiers[aspect] = "affirming"

    def soft(self, reason: str, aspect: str, message: str) -> None:
        """A failure the policy may allow: raise when it rejects, else remember a warning."""
        verdict = self.policy.verdict(reason, aspect)
        if verdict == "reject":
            raise VerificationError(reason, message, aspect)
        self.tiers[aspect] = "warning"
        self.warnings.append((verdict, reason, aspect, message))

    def result(self, verdict: str, reason: str, aspect: str, message: str) -> AttestationResult:
        device = self.device
        return AttestationResult(
            verdict=verdict,
            reason=reason,
            aspect=aspect,
            message=message,
            serial=device.serial if device else None,
            fingerprint=device.fingerprint if device else None,
            tiers=tuple(self.tiers.items()),
            reference_set=self.reference_set,
            clock=self.clock,
            warnings=tuple(f"{r}: {m}" for _, r, _, m in self.warnings),
        )


class Verifier:
    """Appraises evidence from peers against a trust store, reference values and a policy."""

    def __init__(
        self,
        trust: TrustStore,
        references: ReferenceValues,
        policy: Policy,
        selection: tuple[PcrBank, ...],
    ) -> None:
        self.trust = trust
        self.references = references
        self.policy = policy
        self.selection = tuple(PcrBank(b.hash_alg, tuple(sorted(set(b.pcrs)))) for b in selection)
        self._expected_select = tuple((b.hash_alg, b.pcrs) for b in self.selection)

    def appraise(
        self,
        evidence: bytes,
        nonce: bytes,
        context: SignallingContext,
        previous: ClockState | None = None,
        now: dt.datetime | None = None,
    ) -> AttestationResult:
        """Appraise Evidence bytes that must answer ``nonce`` within ``context``."""
        try:
            wanted = _Wanted(
                qualifying_data(nonce, context),
                f"nonce {nonce.hex()} for {context.role} {context.sender} -> "
                f"{context.receiver}, MN {context.mn_id!r}, sequence {context.sequence}",
            )
        except AttestationError as exc:
            wanted = _Wanted(None, str(exc))
        return self._appraise(evidence, wanted, previous, now, None, context.sender)

    def appraise_quote(
        self,
        evidence: Evidence,
        extra_data: bytes,
        previous: ClockState | None = None,
        now: dt.datetime | None = None,
        event_log: EventLog | None = None,
        peer: str = "-",
    ) -> AttestationResult:
        """Appraise a quote whose extraData must equal ``extra_data`` exactly (a quote taken
        with `tpm2_quote -q`, for instance), optionally with a TCG event log to replay."""
        wanted = _Wanted(extra_data, "the requested qualifying data")
        return self._appraise(evidence, wanted, previous, now, event_log, peer)

    def _appraise(
        self,
        evidence: bytes | Evidence,
        wanted: _Wanted,
        previous: ClockState | None,
        now: dt.datetime | None,
        event_log: EventLog | None,
        peer: str,
    ) -> AttestationResult:
        state = _Appraisal(self.policy)
        try:
            self._run(state, evidence, wanted, previous, now, event_log)
        except VerificationError as exc:
            state.tiers[exc.aspect] = "contraindicated"
            log.info("appraisal of %s refused: %s (%s): %s", peer, exc.reason, exc.aspect, exc)
            return state.result("reject", exc.reason, exc.aspect, str(exc))
        except Exception as exc:  # fail closed: a defect here must not accept or crash
            log.exception("appraisal of %s failed unexpectedly", peer)
            state.tiers["instance-identity"] = "contraindicated"
            return state.result(
                "reject", "malformed", "instance-identity", f"appraisal error: {exc}"
            )
        if state.warnings:
            worst = "warn" if any(w[0] == "warn" for w in state.warnings) else "accept"
            _, reason, aspect, message = state.warnings[0]
            return state.result(worst, reason, aspect, message)
        message = f"evidence matches reference set {state.reference_set!r}"
        return state.result("accept", "ok", "runtime", message)

    # -- the checks, in order --

    def _run(
        self,
        state: _Appraisal,
        data: bytes | Evidence,
        wanted: _Wanted,
        previous: ClockState | None,
        now: dt.datetime | None,
        event_log: EventLog | None,
    ) -> None:
        try:
            evidence = data if isinstance(data, Evidence) else Evidence.from_bytes(data)
            attest = tpm2.parse_attest(evidence.attest)
            signature = tpm2.parse_signature(evidence.signature)
            proofs = [BatchProof.decode(d) for kind, d in evidence.extras if kind == EXTRA_BATCH]
            if len(proofs) > 1:
                raise EvidenceError(f"evidence: {len(proofs)} batch proofs, at most one allowed")
        except EvidenceError as exc:
            raise VerificationError("malformed", str(exc), "instance-identity") from exc

        device = self.trust.lookup(evidence.ak_cert_digest)
        if device is None:
            raise VerificationError(
                "unknown-key",
                f"no provisioned AK certificate has SHA-256 {evidence.ak_cert_digest.hex()}",
                "instance-identity",
            )
        state.device = device
        if not device.chained:
            raise VerificationError("untrusted-ca", device.chain_problem, "hardware")
        if now is not None and not device.valid_at(now):
            raise VerificationError(
                "expired", f"device {device.serial} certificates not valid at {now}", "hardware"
            )
        if device.serial in self.trust.revoked:
            state.soft("revoked", "hardware", f"device serial {device.serial} is revoked")
        state.affirm("hardware")

        check_signature(device.ak_key, signature, evidence.attest)

        if attest.magic != tpm2.TPM_GENERATED_VALUE or attest.quote is None:
            raise VerificationError(
                "not-a-quote",
                f"magic 0x{attest.magic:08x} type 0x{attest.type:04x}, expected magic "
                f"0x{tpm2.TPM_GENERATED_VALUE:08x} type 0x{tpm2.TPM_ST_ATTEST_QUOTE:04x}",
                "instance-identity",
            )

        if wanted.extra is None:
            raise VerificationError("nonce", wanted.what, "instance-identity")
        expected, how = wanted.extra, ""
        if proofs:
            # one quote answered many challenges: extraData is a Merkle root (batch.py)
            root = proofs[0].root(wanted.extra)
            if root is None:
                raise VerificationError(
                    "nonce",
                    f"batch proof: a path of {len(proofs[0].path)} hashes does not fit leaf "
                    f"{proofs[0].index} of {proofs[0].size}",
                    "instance-identity",
                )
            expected, how = root, f" through leaf {proofs[0].index} of {proofs[0].size}"
        if not hmac.compare_digest(attest.extra_data, expected):
            raise VerificationError(
                "nonce",
                f"extraData {attest.extra_data.hex()} does not answer {wanted.what}{how} "
                f"(expected {expected.hex()})",
                "instance-identity",
            )
        state.affirm("instance-identity")
        ci = attest.clock_info
        state.clock = ClockState(ci.clock, ci.reset_count, ci.restart_count, ci.safe)

        self._check_selection(attest.quote.pcr_select, evidence.pcr_values)
        digest = tpm2.pcr_digest(signature.hash, (v.value for v in evidence.pcr_values))
        if not hmac.compare_digest(digest, attest.quote.pcr_digest):
            raise VerificationError(
                "pcr-digest",
                f"quoted pcrDigest {attest.quote.pcr_digest.hex()} but the {signature.hash} "
                f"over the evidence's PCR values is {digest.hex()}",
                "runtime",
            )
        hints = evidence.hints
        if event_log is not None:
            hints = check_log(event_log, evidence.pcr_values, hints)
        self._check_references(state, evidence.pcr_values, hints, device)
        state.affirm("executables", "configuration", "file-system")
        check_clock(state, ci, previous)
        state.affirm("runtime")

    def _check_selection(
        self, quoted: tuple[tpm2.PcrSelection, ...], values: tuple[PcrValue, ...]
    ) -> None:
        found = tuple((s.bank, s.pcrs) for s in quoted)
        if found != self._expected_select:
            raise VerificationError(
                "pcr-selection",
                f"quote selects {_show_select(found)}, "
                f"requested {_show_select(self._expected_select)}",
                "runtime",
            )
        listed = tuple((v.bank, v.index) for v in values)
        wanted = tuple((bank, p) for bank, pcrs in found for p in pcrs)
        if listed != wanted:
            raise VerificationError(
                "pcr-selection",
                f"evidence lists PCR values {listed}, the quote selects {wanted}",
                "runtime",
            )

    def _check_references(
        self,
        state: _Appraisal,
        values: tuple[PcrValue, ...],
        hints: tuple[EventHint, ...],
        device: Device,
    ) -> None:
        sets = [s for s in self.references.sets if s.applies_to(device.serial)]
        if not sets:
            state.soft(
                "no-reference", "runtime", f"no reference set applies to device {device.serial}"
            )
            return
        best: tuple[int, VerificationError] | None = None
        grouped = group_hints(hints)
        for ref in sets:
            passed, error = check_set(ref, values, grouped)
            if error is None:
                state.reference_set = ref.name
                return
            if best is None or passed > best[0]:
                best = (passed, error)
        assert best is not None
        state.soft(best[1].reason, best[1].aspect, str(best[1]))


def _show_select(select: Iterable[tuple[str, tuple[int, ...]]]) -> str:
    return " ".join(f"{bank}:{','.join(map(str, pcrs)) or '-'}" for bank, pcrs in select) or "none"


def check_signature(key: object, sig: tpm2.Signature, message: bytes) -> None:
    """Verify a TPMT_SIGNATURE over ``message`` with the key's allowed scheme and hash."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        allowed = ECDSA_CURVES.get(key.curve.name)
        if sig.sig_alg != tpm2.TPM_ALG_ECDSA or allowed is None or sig.hash != allowed[0]:
            raise VerificationError(
                "scheme",
                f"{sig.scheme}-{sig.hash} signature for an ECDSA {key.curve.name} key "
                f"(allowed: ecdsa-{allowed[0] if allowed else 'none'})",
                "instance-identity",
            )
        size = allowed[1]
        if not (0 < len(sig.r) <= size and 0 < len(sig.s) <= size):
            raise VerificationError(
                "signature",
                f"ECDSA r of {len(sig.r)} and s of {len(sig.s)} bytes for a {size}-byte curve",
                "instance-identity",
            )
        der = encode_dss_signature(int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big"))
        try:
            key.verify(der, message, ECDSA[sig.hash])
        except InvalidSignature:
            raise VerificationError(
                "signature",
                "ECDSA signature does not verify with the certified AK",
                "instance-identity",
            ) from None
        return
    if isinstance(key, rsa.RSAPublicKey):
        if (
            sig.sig_alg not in (tpm2.TPM_ALG_RSASSA, tpm2.TPM_ALG_RSAPSS)
            or sig.hash not in RSA_HASHES
        ):
            raise VerificationError(
                "scheme",
                f"{sig.scheme}-{sig.hash} signature for an RSA key (allowed: rsassa or rsapss "
                f"with {', '.join(RSA_HASHES)})",
                "instance-identity",
            )
        modulus = (key.key_size + 7) // 8
        if len(sig.rsa) != modulus:
            raise VerificationError(
                "signature",
                f"RSA signature of {len(sig.rsa)} bytes, the modulus is {modulus} bytes",
                "instance-identity",
            )
        chosen = HASHES[sig.hash]
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if sig.sig_alg == tpm2.TPM_ALG_RSAPSS:
            # TPMs use either the digest size or the largest salt (Part 1, B.7); accept both
            pad = padding.PSS(mgf=padding.MGF1(chosen), salt_length=padding.PSS.AUTO)
        try:
            key.verify(sig.rsa, message, pad, chosen)
        except InvalidSignature:
            raise VerificationError(
                "signature",
                f"{sig.scheme} signature does not verify with the certified AK",
                "instance-identity",
            ) from None
        return
    raise VerificationError("scheme", f"AK of type {type(key).__name__}", "instance-identity")


def _hint_problem(
    ref: ReferenceSet, pv: PcrValue, hints: tuple[EventHint, ...]
) -> VerificationError | None:
    """Name the first event whose hint is unknown to, or differs from, the reference events."""
    by_tag = ref.events_by_tag(pv.index)
    where = f"PCR {pv.index} ({pv.bank})"
    for hint in hints:
        event = by_tag.get(hint.tag)
        if event is None:
            return VerificationError(
                "reference",
                f"{where}: a component or file not in reference set {ref.name!r} was measured "
                f"(tag {hint.tag.hex()}, sha256 {hint.prefix.hex()}...)",
                "file-system" if pv.index in ref.replay_pcrs else pcr_aspect(pv.index),
            )
        if event.sha256[:4] != hint.prefix:
            return VerificationError(
                "reference",
                f"{where}: {event.kind} {event.name!r} differs: expected sha256 "
                f"{event.sha256.hex()}, found {hint.prefix.hex()}...",
                event.aspect,
            )
    seen = {h.tag for h in hints}
    # a replayed PCR must show every reference file: otherwise a daemon that measured
    # nothing (PCR still zero, no hints) would replay "correctly". For a PCR checked by value,
    # no hints at all means the attester said nothing about it: there is nothing to name.
    if hints or pv.index in ref.replay_pcrs:
        for event in ref.events_for(pv.index):
            if event.tag not in seen:
                return VerificationError(
                    "reference",
                    f"{where}: {event.kind} {event.name!r} of reference set {ref.name!r} "
                    "was not measured",
                    event.aspect,
                )
    return None


@functools.lru_cache(maxsize=512)  # decoded hint lists repeat per peer (see decode_hints)
def group_hints(hints: tuple[EventHint, ...]) -> Mapping[int, tuple[EventHint, ...]]:
    """Hints by PCR, each group in evidence order; read-only because it is shared."""
    grouped: dict[int, list[EventHint]] = {}
    for hint in hints:
        grouped.setdefault(hint.pcr, []).append(hint)
    return MappingProxyType({pcr: tuple(items) for pcr, items in grouped.items()})


def check_set(
    ref: ReferenceSet,
    values: tuple[PcrValue, ...],
    hints: Mapping[int, tuple[EventHint, ...]],
) -> tuple[int, VerificationError | None]:
    """Compare PCR values with one reference set: (how many PCRs passed, first failure).
    ``hints`` are the evidence's hints grouped by PCR (:func:`group_hints`)."""
    passed = 0
    first: VerificationError | None = None
    for pv in values:
        error = _check_value(ref, pv, hints.get(pv.index, ()))
        if error is None:
            passed += 1
        elif first is None:
            first = error
    return passed, first


MEMO_LIMIT = 4096


def _check_value(
    ref: ReferenceSet, pv: PcrValue, hints: tuple[EventHint, ...]
) -> VerificationError | None:
    where = f"PCR {pv.index} ({pv.bank})"
    if pv.index in ref.replay_pcrs:
        memo = ref.replay_memo
        key = (pv.bank, pv.index, hints)
        replayed = memo.get(key)
        if replayed is None:
            problem = _hint_problem(ref, pv, hints)
            if problem is not None:
                return problem
            by_tag = ref.events_by_tag(pv.index)
            replayed = replay((by_tag[h.tag] for h in hints), pv.bank, pv.index)
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = replayed
        if replayed != pv.value:
            return VerificationError(
                "log-replay",
                f"{where}: {len(hints)} measured events replay to {replayed.hex()}, "
                f"the quoted value is {pv.value.hex()}",
                "runtime",
            )
        return None
    expected = ref.value(pv.bank, pv.index)
    if expected is None:
        return VerificationError(
            "no-reference",
            f"{where}: reference set {ref.name!r} holds no {pv.bank} value for this PCR",
            pcr_aspect(pv.index),
        )
    if expected == pv.value:
        return None
    named = _hint_problem(ref, pv, hints)
    if named is not None:
        return named
    return VerificationError(
        "reference",
        f"{where}: expected {expected.hex()} (reference set {ref.name!r}), found {pv.value.hex()}",
        pcr_aspect(pv.index),
    )


def check_log(
    event_log: EventLog, values: tuple[PcrValue, ...], hints: tuple[EventHint, ...]
) -> tuple[EventHint, ...]:
    """Replay a TCG event log against the quoted PCR values; on success the log's events
    stand in for the evidence's hints on every PCR the log covers."""
    problem = event_log.inconsistent()
    if problem is not None:
        raise VerificationError("log-replay", f"event log {problem}", "runtime")
    covered = {r.pcr for r in event_log.records}
    for pv in values:
        if pv.index not in covered:
            continue
        if pv.bank not in event_log.banks:
            raise VerificationError(
                "log-replay",
                f"the event log has no {pv.bank} digests (it has {', '.join(event_log.banks)})",
                "runtime",
            )
        try:
            replayed = event_log.replay(pv.bank, pv.index)
        except EvidenceError as exc:
            raise VerificationError("log-replay", str(exc), "runtime") from exc
        if replayed != pv.value:
            raise VerificationError(
                "log-replay",
                f"PCR {pv.index} ({pv.bank}): the event log replays to {replayed.hex()}, "
                f"the quoted value is {pv.value.hex()}",
                "runtime",
            )
    from_log = tuple(e.hint() for e in event_log.events() if e.pcr in covered)
    return from_log + tuple(h for h in hints if h.pcr not in covered)


def check_clock(state: _Appraisal, ci: tpm2.ClockInfo, previous: ClockState | None) -> None:
    """Compare TPMS_CLOCK_INFO with the previous accepted quote (TPM 2.0 Part 1, 36)."""
    if not ci.safe:
        state.soft(
            "clock-unsafe",
            "runtime",
            "safe = 0: the TPM clock may have gone back since it was last saved",
        )
    if previous is None:
        return
    counters = (ci.reset_count, ci.restart_count)
    before = (previous.reset_count, previous.restart_count)
    if counters < before:
        raise VerificationError(
            "counter-rollback",
            f"resetCount/restartCount {counters} went back from {before}",
            "runtime",
        )
    if ci.reset_count > previous.reset_count:
        state.soft(
            "reboot",
            "runtime",
            f"resetCount {previous.reset_count} -> {ci.reset_count}: the peer rebooted "
            "since its last appraisal; appraised afresh in full",
        )
    elif ci.restart_count > previous.restart_count:
        state.soft(
            "restart",
            "runtime",
            f"restartCount {previous.restart_count} -> {ci.restart_count}: the peer's TPM "
            "restarted since its last appraisal; appraised afresh in full",
        )
    elif ci.clock < previous.clock:
        state.soft(
            "clock",
            "runtime",
            f"clock went back from {previous.clock} to {ci.clock} ms without a reboot or restart",
        )
