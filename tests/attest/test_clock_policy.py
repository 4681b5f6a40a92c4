"""Clock information against the previous quote, and the policy's verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from apmip.attest.local import DEFAULT_SELECTION
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import AttestationResult, ClockState, Policy
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier
from apmip.errors import ConfigError

from .conftest import CONTEXT, NONCE, Node


def _appraise(node: Node, verifier: Verifier, previous: ClockState | None) -> AttestationResult:
    return verifier.appraise(node.evidence(), NONCE, CONTEXT, previous)


def _boot_again(node: Node) -> None:
    """Re-measure after a TPM reset so the references still match."""
    from apmip.attest.boot import simulate_boot
    from apmip.attest.measure import config_items, measure, package_items

    events = simulate_boot(node.attester)
    events += measure(node.attester, config_items([node.config]) + package_items("apmip.attest"))
    node.local.events = ()
    node.local.add_events(events)


def test_same_boot_later_clock_is_plain_accept(node: Node, verifier: Verifier) -> None:
    first = _appraise(node, verifier, None)
    node.clock.ms += 2500
    second = _appraise(node, verifier, first.clock)
    assert (second.verdict, second.reason) == ("accept", "ok")
    assert second.clock == ClockState(1_002_500, 0, 0, True)


def test_reboot_is_a_fresh_appraisal_not_tampering(node: Node, verifier: Verifier) -> None:
    first = _appraise(node, verifier, None)
    node.attester.power_cycle()
    _boot_again(node)
    node.clock.ms -= 500  # the clock may even be behind: a reboot explains it
    result = _appraise(node, verifier, first.clock)
    assert (result.verdict, result.reason, result.aspect) == ("warn", "reboot", "runtime")
    assert result.message == (
        "resetCount 0 -> 1: the peer rebooted since its last appraisal; appraised afresh in full"
    )
    assert result.tier("runtime") == "warning"
    assert result.tier("executables") == "affirming"
    assert result.reference_set == "mag-golden"


def test_tpm_restart_is_reported_as_restart(node: Node, verifier: Verifier) -> None:
    first = _appraise(node, verifier, None)
    node.attester.restart()
    result = _appraise(node, verifier, first.clock)
    assert (result.verdict, result.reason, result.aspect) == ("warn", "restart", "runtime")
    assert "restartCount 0 -> 1" in result.message


def test_clock_back_without_reboot_is_refused(node: Node, verifier: Verifier) -> None:
    first = _appraise(node, verifier, None)
    node.clock.ms -= 1
    result = _appraise(node, verifier, first.clock)
    assert (result.verdict, result.reason, result.aspect) == ("reject", "clock", "runtime")
    assert result.message == (
        "clock went back from 1000000 to 999999 ms without a reboot or restart"
    )


def test_counters_going_back_are_refused(node: Node, verifier: Verifier) -> None:
    result = _appraise(node, verifier, ClockState(1, 5, 0, True))
    assert (result.verdict, result.reason) == ("reject", "counter-rollback")
    assert result.message == "resetCount/restartCount (0, 0) went back from (5, 0)"


def test_safe_cleared_is_reported(node: Node, verifier: Verifier) -> None:
    node.attester.mark_unsafe()
    result = _appraise(node, verifier, None)
    assert (result.verdict, result.reason, result.aspect) == ("warn", "clock-unsafe", "runtime")
    assert result.clock is not None and result.clock.safe is False


def test_policy_can_soften_a_reference_mismatch(
    node: Node, references: ReferenceValues, pki_dir: Path
) -> None:
    policy = Policy.from_config({"aspects": {"configuration": "warn"}})
    verifier = Verifier(TrustStore.from_pki_dir(pki_dir), references, policy, DEFAULT_SELECTION)
    node.attester.extend(7, {"sha256": bytes(32)})
    result = _appraise(node, verifier, None)
    assert (result.verdict, result.reason, result.aspect) == ("warn", "reference", "configuration")
    assert result.tier("configuration") == "warning"
    assert result.tier("runtime") == "affirming"


def test_policy_can_make_a_reboot_a_plain_accept(node: Node, verifier: Verifier) -> None:
    first = _appraise(node, verifier, None)
    node.attester.restart()
    strict = Verifier(
        verifier.trust,
        verifier.references,
        Policy.from_config({"reasons": {"restart": "accept", "clock": "warn"}}),
        DEFAULT_SELECTION,
    )
    result = _appraise(node, strict, first.clock)
    assert (result.verdict, result.reason) == ("accept", "restart")


@pytest.mark.parametrize(
    ("config", "key", "problem"),
    [
        (
            {"reasons": {"signature": "warn"}},
            "reasons.signature",
            "'warn' would accept bad evidence",
        ),
        ({"reasons": {"nonce": "accept"}}, "reasons.nonce", "'accept' would accept bad evidence"),
        ({"reasons": {"bogus": "warn"}}, "reasons.bogus", "unknown reason code"),
        ({"aspects": {"kernel": "warn"}}, "aspects.kernel", "unknown aspect"),
        ({"aspects": {"runtime": "maybe"}}, "aspects.runtime", "'maybe'"),
        ({"reason": {}}, "reason", "unknown key"),
    ],
)
def test_policy_configuration_errors(config: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Policy.from_config(config, "lma.toml")
    assert (info.value.path, info.value.key, info.value.problem) == ("lma.toml", key, problem)


def test_hard_reasons_always_reject() -> None:
    policy = Policy(reasons={"signature": "accept"}, aspects={"instance-identity": "accept"})
    assert policy.verdict("signature", "instance-identity") == "reject"
    assert policy.verdict("revoked", "hardware") == "reject"
    assert Policy(aspects={"hardware": "warn"}).verdict("revoked", "hardware") == "warn"
