"""Benchmarks behind `apmip bench`.

Each module here exposes ``run(quick: bool) -> list[BenchResult]``; `apmip bench` runs them
in one process so attested and plain figures come from the same run and can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchResult:
    """One measured figure."""

    name: str
    value: float
    unit: str
    note: str = ""

    def line(self) -> str:
        text = f"{self.name:<48} {self.value:>14,.1f} {self.unit}"
        return f"{text}  ({self.note})" if self.note else text
