"""Measure the TPM attester on swtpm: quote latency per key type, PCR reads, extends, life cycle.

Run from the project root: ``.venv/bin/python -m tests.tpm.latency [--runs N]``. It starts its
own swtpm in a temporary directory and prints one line per operation with the median, the
95th percentile and the minimum in milliseconds. docs/tpm.md quotes its figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apmip.attest.attester import PcrBank
from apmip.attest.local import DEFAULT_SELECTION
from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import AK_TEMPLATES, TpmAttester

QUALIFYING_DATA = bytes(32)
ONE = (PcrBank("sha256", (0,)),)
ALL = (PcrBank("sha256", tuple(range(24))),)
TWO_BANKS = (PcrBank("sha256", tuple(range(24))), PcrBank("sha1", tuple(range(24))))


@dataclass(frozen=True)
class Figure:
    name: str
    median_ms: float
    p95_ms: float
    min_ms: float
    runs: int

    def line(self) -> str:
        return (
            f"{self.name:<44} median {self.median_ms:8.3f} ms  p95 {self.p95_ms:8.3f} ms  "
            f"min {self.min_ms:8.3f} ms  (n={self.runs})"
        )


def measure(name: str, action: Callable[[], object], runs: int) -> Figure:
    action()  # warm up: first calls load code paths and connect
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return Figure(name, statistics.median(times), p95, times[0], runs)


def run(runs: int, workdir: Path) -> list[Figure]:
    figures = []
    fresh = iter(range(1_000_000))

    def start_fresh() -> None:
        with SwtpmProcess(workdir / f"fresh-{next(fresh)}"):
            pass

    figures.append(measure("swtpm start and stop, fresh state", start_fresh, max(3, runs // 20)))
    with SwtpmProcess(workdir / "tpm") as tpm:
        figures.append(
            measure(
                "open and close TpmAttester (ecc256)", lambda: TpmAttester(tpm.tcti).close(), 20
            )
        )
        for key in AK_TEMPLATES:
            with TpmAttester(tpm.tcti, key=key) as attester:
                for label, selection in (("1", ONE), ("8", DEFAULT_SELECTION), ("24", ALL)):
                    figures.append(
                        measure(
                            f"quote {key}, {label} sha256 PCRs",
                            lambda a=attester, s=selection: a.quote(QUALIFYING_DATA, s),
                            runs,
                        )
                    )
        with TpmAttester(tpm.tcti) as attester:
            figures.append(
                measure("pcr_read 8 PCRs", lambda: attester.pcr_read(DEFAULT_SELECTION), runs)
            )
            figures.append(
                measure("pcr_read 48 PCRs (6 calls)", lambda: attester.pcr_read(TWO_BANKS), runs)
            )
            digests = {"sha256": bytes(32), "sha1": bytes(20)}
            figures.append(
                measure("extend sha256+sha1", lambda: attester.extend(16, digests), runs)
            )
            figures.append(measure("restart_tpm", tpm.restart_tpm, max(3, runs // 20)))

            def quote_after_restart() -> None:
                tpm.restart_tpm()
                attester.quote(QUALIFYING_DATA, DEFAULT_SELECTION)

            figures.append(
                measure("restart_tpm, then quote (AK recreated)", quote_after_restart, 10)
            )
        figures.append(measure("power_cycle", tpm.power_cycle, max(3, runs // 20)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="iterations per operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apmip-tpm-latency-") as workdir:
        for figure in run(args.runs, Path(workdir)):
            print(figure.line())


if __name__ == "__main__":
    main()
