"""`apmip mag`: run a Mobile Access Gateway daemon."""

from __future__ import annotations

import argparse

from apmip.runtime.node import run_daemon


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("mag", help="run a Mobile Access Gateway daemon")
    parser.add_argument("--config", "-c", required=True, help="the MAG's TOML configuration")
    parser.set_defaults(func=lambda args: run_daemon(args.config, "mag"))
