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
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.batch import EXTRA_BATCH, BatchProof
from apmip.attest.binding import (
    EXTRA_CLAIM,
    SignallingContext,
    context_differences,
    decode_claim,
    qualifying_data,
)
from apmip.attest.eventlog import EventLog
from apmip.attest.events import EventHint
from apmip.attest.evidence import Evidence, PcrValue
from apmip.attest.references import Known, check_log, check_set, group_hints
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import ASPECTS, AttestationResult, ClockState, Policy
from apmip.attest.signature import check_signature
from apmip.attest.trust import Device, TrustStore
from apmip.errors import AttestationError, EvidenceError, VerificationError

log = logging.getLogger(__name__)

NOTHING_KNOWN: Known = MappingProxyType({})


@dataclass(frozen=True)
class _Wanted:
    """The extraData a quote must carry, or None with the reason it cannot be computed."""

    extra: bytes | None
    what: str
    nonce: bytes | None = None
    context: SignallingContext | None = None


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
                nonce,
                context,
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
            _refuse_binding(evidence, attest.extra_data, proofs, wanted)
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
        hints, known = evidence.hints, NOTHING_KNOWN
        if event_log is not None:
            hints, known = check_log(event_log, evidence.pcr_values, hints)
        self._check_references(state, evidence.pcr_values, hints, device, known)
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
        known: Known,
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
            passed, error = check_set(ref, values, grouped, known)
            if error is None:
                state.reference_set = ref.name
                return
            if best is None or passed > best[0]:
                best = (passed, error)
        assert best is not None
        state.soft(best[1].reason, best[1].aspect, str(best[1]))


def _refuse_binding(
    evidence: Evidence, extra_data: bytes, proofs: list[BatchProof], wanted: _Wanted
) -> None:
    """Say "replay" or "relay" when the evidence's claimed binding is what it really signed.

    The claim proves itself: its qualifying data (through the batch path, if any) must be the
    signed extraData. A claim that does not is ignored and the refusal stays "nonce"."""
    if wanted.nonce is None or wanted.context is None:
        return
    claims = [d for kind, d in evidence.extras if kind == EXTRA_CLAIM]
    claimed = decode_claim(claims[0]) if len(claims) == 1 else None
    if claimed is None:
        return
    nonce, context = claimed
    try:
        leaf = qualifying_data(nonce, context)
    except AttestationError:
        return
    signed = proofs[0].root(leaf) if proofs else leaf
    if signed is None or not hmac.compare_digest(signed, extra_data):
        return
    differences = context_differences(wanted.context, context)
    if not hmac.compare_digest(nonce, wanted.nonce):
        where = f"; it was also bound to {', '.join(differences)}" if differences else ""
        raise VerificationError(
            "replay",
            f"the quote answers an earlier nonce {nonce.hex()}, not {wanted.nonce.hex()}{where}",
            "instance-identity",
        )
    raise VerificationError(
        "relay",
        f"the quote answers this nonce but was bound to another exchange: "
        f"{', '.join(differences)}",
        "instance-identity",
    )


def _show_select(select: Iterable[tuple[str, tuple[int, ...]]]) -> str:
    return " ".join(f"{bank}:{','.join(map(str, pcrs)) or '-'}" for bank, pcrs in select) or "none"


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
