"""Appraisal results and the policy that turns them into accept / warn / reject.

A result carries a trust tier per aspect in the manner of the IETF RATS AR4SI trust vector
(draft-ietf-rats-ar4si): ``affirming`` (checked and good), ``warning`` (checked, acceptable with
a remark), ``contraindicated`` (checked and bad) and ``none`` (not reached because an earlier
check stopped the appraisal).

The policy may soften only reasons about *what* was measured and *when* (reference mismatches,
revocation, clock events); failures of the evidence itself (parse, key, signature, nonce,
selection, digest) always reject, whatever the configuration says: a policy that accepted a
bad signature would make the whole appraisal meaningless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apmip.errors import ConfigError

ASPECTS = (
    "hardware",
    "instance-identity",
    "executables",
    "configuration",
    "file-system",
    "runtime",
)
TIERS = ("none", "affirming", "warning", "contraindicated")
VERDICTS = ("accept", "warn", "reject")

# reasons that no policy can turn into anything but reject
HARD_REASONS = frozenset(
    {
        "malformed",
        "unknown-key",
        "untrusted-ca",
        "expired",
        "signature",
        "scheme",
        "not-a-quote",
        "nonce",
        "replay",
        "relay",
        "pcr-selection",
        "pcr-digest",
        "counter-rollback",
    }
)
# every reason code the verifier emits, with the verdict when the policy does not say
DEFAULT_VERDICTS: Mapping[str, str] = {
    **{r: "reject" for r in HARD_REASONS},
    "ok": "accept",
    "revoked": "reject",
    "reference": "reject",
    "no-reference": "reject",
    "log-replay": "reject",
    "clock": "reject",
    "clock-unsafe": "warn",
    "reboot": "warn",
    "restart": "warn",
}
REASONS = tuple(DEFAULT_VERDICTS)


@dataclass(frozen=True)
class ClockState:
    """TPMS_CLOCK_INFO of the last accepted quote from a peer."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass(frozen=True)
class AttestationResult:
    """The outcome of one appraisal. ``reason`` is a stable code (see :data:`REASONS`)."""

    verdict: str
    reason: str
    aspect: str
    message: str
    serial: str | None = None
    fingerprint: str | None = None
    tiers: tuple[tuple[str, str], ...] = ()
    reference_set: str | None = None
    clock: ClockState | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.verdict != "reject"

    def tier(self, aspect: str) -> str:
        return dict(self.tiers).get(aspect, "none")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "aspect": self.aspect,
            "message": self.message,
            "serial": self.serial,
            "hardware_fingerprint": self.fingerprint,
            "tiers": dict(self.tiers),
            "reference_set": self.reference_set,
            "clock": None if self.clock is None else self.clock.__dict__,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Policy:
    """Maps (reason, aspect) to a verdict: a reason entry wins over an aspect entry, which
    wins over :data:`DEFAULT_VERDICTS`. Hard reasons always reject."""

    reasons: Mapping[str, str] = field(default_factory=dict)
    aspects: Mapping[str, str] = field(default_factory=dict)

    def verdict(self, reason: str, aspect: str) -> str:
        if reason in HARD_REASONS:
            return "reject"
        if reason in self.reasons:
            return self.reasons[reason]
        if reason != "ok" and aspect in self.aspects:
            return self.aspects[aspect]
        return DEFAULT_VERDICTS.get(reason, "reject")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], path: str = "config") -> Policy:
        """Read the ``[attestation.policy]`` table: ``reasons`` and ``aspects`` sub-tables,
        each mapping a reason code or aspect to "accept", "warn" or "reject"."""
        unknown = set(config) - {"reasons", "aspects"}
        if unknown:
            raise ConfigError(
                path, ", ".join(sorted(unknown)), "unknown key", "use reasons/aspects"
            )
        reasons = dict(config.get("reasons", {}))
        aspects = dict(config.get("aspects", {}))
        for key, value in reasons.items():
            if key not in DEFAULT_VERDICTS:
                raise ConfigError(
                    path, f"reasons.{key}", "unknown reason code", f"one of {REASONS}"
                )
            if key in HARD_REASONS and value != "reject":
                raise ConfigError(
                    path, f"reasons.{key}", f"{value!r} would accept bad evidence", "use reject"
                )
        for key in aspects:
            if key not in ASPECTS:
                raise ConfigError(path, f"aspects.{key}", "unknown aspect", f"one of {ASPECTS}")
        for table, entries in (("reasons", reasons), ("aspects", aspects)):
            for key, value in entries.items():
                if value not in VERDICTS:
                    raise ConfigError(path, f"{table}.{key}", f"{value!r}", f"one of {VERDICTS}")
        return cls(reasons, aspects)
