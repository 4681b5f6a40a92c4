"""`apmip bench`: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# benchmark modules under apmip.bench, in the order they run
SUITES = ("codec", "appraisal", "protocol")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bench", help="measure codec, appraisal and protocol speed")
    parser.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help=f"which to run (default all): {', '.join(SUITES)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        print(
            f"apmip bench: unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}",
            file=sys.stderr,
        )
        return 2
    results = []
    for name in args.suites or SUITES:
        try:
            module = importlib.import_module(f"apmip.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"apmip.bench.{name}":
                raise
            continue
        suite = module.run(args.quick)
        results.extend(suite)
        if not args.json:
            print(f"== {name}")
            for result in suite:
                print(result.line())
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    return 0
