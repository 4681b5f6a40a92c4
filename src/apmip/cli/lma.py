"""`apmip lma`: run a Local Mobility Anchor daemon."""

from __future__ import annotations

import argparse

from apmip.runtime.node import run_daemon


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("lma", help="run a Local Mobility Anchor daemon")
    parser.add_argument("--config", "-c", required=True, help="the LMA's TOML configuration")
    parser.set_defaults(func=lambda args: run_daemon(args.config, "lma"))
