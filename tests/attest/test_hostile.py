"""Hostile input: parsers fail only with EvidenceError, and appraise never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apmip.attest import tpm2
from apmip.attest.eventlog import parse_log
from apmip.attest.evidence import Evidence
from apmip.attest.result import REASONS
from apmip.attest.verifier import Verifier
from apmip.errors import EvidenceError

from .conftest import CONTEXT, NONCE, Node

PARSERS = (Evidence.from_bytes, tpm2.parse_attest, tpm2.parse_signature, parse_log)


@given(data=st.binary(max_size=600), which=st.sampled_from(PARSERS))
def test_parsers_raise_only_evidence_errors(data: bytes, which: object) -> None:
    try:
        which(data)  # type: ignore[operator]
    except EvidenceError as exc:
        assert str(exc), "an evidence error must say what is wrong"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 2000), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_evidence_is_refused_never_raised(
    node: Node, verifier: Verifier, edits: list[tuple[int, int, str]]
) -> None:
    original = node.evidence()
    data = bytearray(original)
    for position, value, how in edits:
        at = position % (len(data) + 1)
        if how == "r" and at < len(data):
            data[at] = value
        elif how == "i":
            data.insert(at, value)
        elif how == "d" and at < len(data):
            del data[at]
    result = verifier.appraise(bytes(data), NONCE, CONTEXT)
    assert result.reason in REASONS
    if bytes(data) != original:
        # a mutation may only survive where it touches nothing signed or compared: the
        # digest prefix of a hint for a PCR whose value matches by reference
        assert result.verdict == "reject" or _only_hints_changed(original, bytes(data))


def _only_hints_changed(original: bytes, mutated: bytes) -> bool:
    try:
        a, b = Evidence.from_bytes(original), Evidence.from_bytes(mutated)
    except EvidenceError:
        return False
    return (a.attest, a.signature, a.ak_cert_digest, a.pcr_values) == (
        b.attest,
        b.signature,
        b.ak_cert_digest,
        b.pcr_values,
    )
