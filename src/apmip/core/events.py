"""What the engines hand back to their runtime: datagrams to send and events that happened.

Events are the engines' only way of telling the world what changed; the runtime turns them
into log lines, metrics, data-plane routes and the demo's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Datagram:
    """A Mobility Header message for ``peer`` (an address as text)."""

    data: bytes
    peer: str


@dataclass(frozen=True)
class Event:
    """Something that happened inside an engine.

    ``kind`` is a short stable name (``binding-created``, ``peer-refused`` ...); ``mn`` the
    mobile node identifier as text where one is concerned, ``peer`` the MAG or LMA address,
    ``detail`` the facts an operator needs (status, prefix, reason, latency ...).
    """

    kind: str
    at: float
    mn: str = ""
    peer: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [self.kind]
        if self.mn:
            parts.append(f"mn={self.mn}")
        if self.peer:
            parts.append(f"peer={self.peer}")
        parts.extend(f"{key}={value}" for key, value in self.detail.items())
        return " ".join(parts)


@dataclass
class Output:
    """The result of one engine step."""

    datagrams: list[Datagram] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def send(self, data: bytes, peer: str) -> None:
        self.datagrams.append(Datagram(data, peer))

    def emit(self, kind: str, at: float, mn: str = "", peer: str = "", **detail: Any) -> None:
        self.events.append(Event(kind, at, mn, peer, dict(detail)))

    def extend(self, other: Output) -> None:
        self.datagrams.extend(other.datagrams)
        self.events.extend(other.events)
