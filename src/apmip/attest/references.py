"""Comparing quoted PCR values with reference sets, and replaying event logs against them.

For a PCR a reference set pins by value, equality decides and the events only serve to name a
component that differs. For a PCR the set appraises by replay (the application PCR), every
hinted event must be a reference event, every reference event must be hinted, and the
reference events in the hinted order must replay to the quoted value (docs/attestation.md,
"Reference values"). Set comparisons return their failure instead of raising it, so the
verifier can compare several sets and report the closest one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from apmip.attest.eventlog import EventLog
from apmip.attest.events import Event, EventHint, replay
from apmip.attest.evidence import PcrValue
from apmip.attest.refvals import ReferenceSet
from apmip.errors import EvidenceError, VerificationError

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


# full events behind hints, by (PCR, tag), when an event log supplied them
Known = Mapping[tuple[int, bytes], Event]


def pcr_aspect(index: int) -> str:
    return PCR_ASPECT.get(index, "executables" if index < 16 else "runtime")


def _hint_problem(
    ref: ReferenceSet, pv: PcrValue, hints: tuple[EventHint, ...], known: Known
) -> VerificationError | None:
    """Name the first event whose hint is unknown to, or differs from, the reference events.
    ``known`` holds the full events behind the hints when a log supplied them."""
    by_tag = ref.events_by_tag(pv.index)
    where = f"PCR {pv.index} ({pv.bank})"
    for hint in hints:
        event = by_tag.get(hint.tag)
        found = known.get((hint.pcr, hint.tag))
        if event is None:
            what = (
                f"{found.kind} {found.name!r} (sha256 {found.sha256.hex()})"
                if found is not None
                else f"a component or file (tag {hint.tag.hex()}, sha256 {hint.prefix.hex()}...)"
            )
            return VerificationError(
                "reference",
                f"{where}: {what} is not in reference set {ref.name!r}",
                "file-system" if pv.index in ref.replay_pcrs else pcr_aspect(pv.index),
            )
        if event.sha256[:4] != hint.prefix or (found is not None and found.sha256 != event.sha256):
            shown = found.sha256.hex() if found is not None else f"{hint.prefix.hex()}..."
            return VerificationError(
                "reference",
                f"{where}: {event.kind} {event.name!r} differs: expected sha256 "
                f"{event.sha256.hex()}, found {shown}",
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
    known: Known = MappingProxyType({}),
) -> tuple[int, VerificationError | None]:
    """Compare PCR values with one reference set: (how many PCRs passed, first failure).
    ``hints`` are the evidence's hints grouped by PCR (:func:`group_hints`); ``known`` the
    full events behind them by (PCR, tag), when an event log supplied them."""
    passed = 0
    first: VerificationError | None = None
    for pv in values:
        error = _check_value(ref, pv, hints.get(pv.index, ()), known)
        if error is None:
            passed += 1
        elif first is None:
            first = error
    return passed, first


MEMO_LIMIT = 4096


def _check_value(
    ref: ReferenceSet, pv: PcrValue, hints: tuple[EventHint, ...], known: Known
) -> VerificationError | None:
    where = f"PCR {pv.index} ({pv.bank})"
    if pv.index in ref.replay_pcrs:
        memo = ref.replay_memo
        key = (pv.bank, pv.index, hints)
        replayed = memo.get(key)
        if replayed is None:
            problem = _hint_problem(ref, pv, hints, known)
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
    named = _hint_problem(ref, pv, hints, known)
    if named is not None:
        return named
    return VerificationError(
        "reference",
        f"{where}: expected {expected.hex()} (reference set {ref.name!r}), found {pv.value.hex()}",
        pcr_aspect(pv.index),
    )


def check_log(
    event_log: EventLog, values: tuple[PcrValue, ...], hints: tuple[EventHint, ...]
) -> tuple[tuple[EventHint, ...], Known]:
    """Replay a TCG event log against the quoted PCR values; on success the log's events
    stand in for the evidence's hints on every PCR the log covers. Returns those hints and
    the log's full events by (PCR, tag), so that a mismatch can show names and digests."""
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
    events = [e for e in event_log.events() if e.pcr in covered]
    from_log = tuple(e.hint() for e in events)
    known = MappingProxyType({(e.pcr, e.tag): e for e in events})
    return from_log + tuple(h for h in hints if h.pcr not in covered), known
