"""Reference values: what a known-good device of a model and release measures.

The file format is JSON (documented in docs/attestation.md, "Reference values")::

    {
      "format": "apmip-reference-values", "version": 1,
      "sets": [
        {
          "name": "mag1", "model": "apmip-software", "release": "0.1.0",
          "serials": ["MAG-0001"],              # optional: only these devices; [] = any
          "pcrs": {"sha256": {"0": "<hex>", ...}, "sha1": {...}},
          "replay_pcrs": [13],                  # appraised by replaying events, not by value
          "events": [{"pcr": 0, "kind": "firmware", "name": "...", "sha256": "<hex>"}, ...]
        }
      ]
    }

A PCR listed under ``pcrs`` must have exactly that value; the events recorded for it only
serve to name the component when it does not. A PCR in ``replay_pcrs`` (the application PCR)
has no fixed value: the evidence's events for it must each be one of the set's events for that
PCR, in any order and subset, and must replay to the quoted value. That lets one set accept a
daemon whose configuration path differs only between devices recorded separately, without
pinning the order in which files were measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from apmip.attest.attester import Attester, PcrBank
from apmip.attest.events import Event
from apmip.attest.measure import DEFAULT_APP_PCR
from apmip.errors import ConfigError, EvidenceError

FORMAT = "apmip-reference-values"
VERSION = 1


@dataclass(frozen=True)
class ReferenceSet:
    name: str
    model: str
    release: str
    pcrs: tuple[tuple[str, int, bytes], ...]  # (bank, index, value)
    events: tuple[Event, ...]
    replay_pcrs: tuple[int, ...] = (DEFAULT_APP_PCR,)
    serials: tuple[str, ...] = ()

    def value(self, bank: str, index: int) -> bytes | None:
        return self._values.get((bank, index))

    def events_for(self, pcr: int) -> tuple[Event, ...]:
        return self._by_pcr.get(pcr, ())

    def events_by_tag(self, pcr: int) -> dict[bytes, Event]:
        """The set's events for ``pcr`` keyed by their 4-byte tag."""
        return self._by_tag.get(pcr, {})

    # look-up tables built once: a verifier consults the same set for every appraisal

    @cached_property
    def _values(self) -> dict[tuple[str, int], bytes]:
        return {(bank, index): value for bank, index, value in self.pcrs}

    @cached_property
    def _by_pcr(self) -> dict[int, tuple[Event, ...]]:
        out: dict[int, list[Event]] = {}
        for event in self.events:
            out.setdefault(event.pcr, []).append(event)
        return {pcr: tuple(events) for pcr, events in out.items()}

    @cached_property
    def _by_tag(self) -> dict[int, dict[bytes, Event]]:
        return {pcr: {e.tag: e for e in events} for pcr, events in self._by_pcr.items()}

    @cached_property
    def replay_memo(self) -> dict[tuple[object, ...], bytes]:
        """Replayed values by (bank, PCR, hints): a peer sends the same list every time."""
        return {}

    def applies_to(self, serial: str | None) -> bool:
        return not self.serials or serial in self.serials

    def to_json(self) -> dict[str, Any]:
        pcrs: dict[str, dict[str, str]] = {}
        for bank, index, value in self.pcrs:
            pcrs.setdefault(bank, {})[str(index)] = value.hex()
        return {
            "name": self.name,
            "model": self.model,
            "release": self.release,
            "serials": list(self.serials),
            "pcrs": pcrs,
            "replay_pcrs": list(self.replay_pcrs),
            "events": [
                {"pcr": e.pcr, "kind": e.kind, "name": e.name, "sha256": e.sha256.hex()}
                for e in self.events
            ],
        }


def _set_from_json(obj: Any, where: str) -> ReferenceSet:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(where, key, problem, "re-record with `apmip refvals record`")

    if not isinstance(obj, dict):
        raise bad("sets[]", "is not an object")
    try:
        pcrs = []
        for bank, values in obj.get("pcrs", {}).items():
            for index, value in values.items():
                pcrs.append((str(bank), int(index), bytes.fromhex(value)))
        events = tuple(
            Event(int(e["pcr"]), str(e["kind"]), str(e["name"]), bytes.fromhex(e["sha256"]))
            for e in obj.get("events", [])
        )
        return ReferenceSet(
            name=str(obj["name"]),
            model=str(obj.get("model", "")),
            release=str(obj.get("release", "")),
            pcrs=tuple(pcrs),
            events=events,
            replay_pcrs=tuple(int(p) for p in obj.get("replay_pcrs", [])),
            serials=tuple(str(s) for s in obj.get("serials", [])),
        )
    except KeyError as exc:
        raise bad(str(exc.args[0]), "is missing") from exc
    except (ValueError, TypeError, AttributeError, EvidenceError) as exc:
        raise bad(str(obj.get("name", "sets[]")), f"invalid value: {exc}") from exc


@dataclass(frozen=True)
class ReferenceValues:
    """An ordered collection of reference sets; the verifier reports which one matched."""

    sets: tuple[ReferenceSet, ...] = ()

    def merged(self, other: ReferenceValues) -> ReferenceValues:
        names = {s.name for s in other.sets}
        return ReferenceValues(tuple(s for s in self.sets if s.name not in names) + other.sets)

    @classmethod
    def record(
        cls,
        attester: Attester,
        selection: tuple[PcrBank, ...],
        events: Iterable[Event],
        *,
        name: str,
        model: str = "apmip-software",
        release: str = "",
        replay_pcrs: tuple[int, ...] = (DEFAULT_APP_PCR,),
        serials: tuple[str, ...] = (),
    ) -> ReferenceValues:
        """Record one set from a known-good attester: the selected PCRs (except
        ``replay_pcrs``) by value, and all events the attester measured."""
        values = attester.pcr_read(selection)
        pcrs = tuple(
            (bank.hash_alg, index, values[(bank.hash_alg, index)])
            for bank in selection
            for index in sorted(bank.pcrs)
            if index not in replay_pcrs
        )
        ref = ReferenceSet(name, model, release, pcrs, tuple(events), replay_pcrs, serials)
        return cls((ref,))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "sets": [s.to_json() for s in self.sets]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.dumps())

    @classmethod
    def from_json(cls, obj: Any, where: str = "reference values") -> ReferenceValues:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ConfigError(where, "format", f"is not {FORMAT!r}", "use an apmip refvals file")
        if obj.get("version") != VERSION:
            raise ConfigError(
                where, "version", f"{obj.get('version')!r} unsupported", f"use version {VERSION}"
            )
        sets = obj.get("sets")
        if not isinstance(sets, list):
            raise ConfigError(where, "sets", "is not a list", "record at least one set")
        return cls(tuple(_set_from_json(s, where) for s in sets))

    @classmethod
    def load(cls, path: Path) -> ReferenceValues:
        """Reference values from a JSON file; ConfigError names the file, the place and the fix."""
        fix = "record it again with `apmip refvals record` (the file is UTF-8 JSON)"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(str(path), "-", f"unreadable: {exc.strerror or exc}", fix) from exc
        try:
            obj = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            problem = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
            raise ConfigError(str(path), f"line {line}", problem, fix) from None
        except ValueError as exc:
            raise ConfigError(str(path), "-", f"not JSON: {exc}", fix) from exc
        return cls.from_json(obj, str(path))
