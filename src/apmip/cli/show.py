"""`apmip show`: what a running daemon holds (bindings, peer trust, counters)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from apmip.runtime.daemon import socket_request

VIEWS = ("bindings", "peers", "counters", "all")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("show", help="show a daemon's bindings, peer trust, counters")
    parser.add_argument("view", nargs="?", default="all", choices=VIEWS)
    parser.add_argument("--socket", "-s", required=True, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        state = socket_request(args.socket, {"op": "show"})
    except (OSError, ValueError) as exc:
        print(f"apmip show: cannot reach {args.socket}: {exc} (is the daemon running?)")
        return 1
    if args.json:
        print(json.dumps(state, indent=2, default=str))
        return 0
    print(
        f"{state['role'].upper()} {state['name']} at {state['address']}, "
        f"up {state['uptime']:.0f} s"
    )
    if args.view in ("bindings", "all"):
        _bindings(state)
    if args.view in ("peers", "all"):
        _peers(state)
    if args.view in ("counters", "all"):
        print("\ncounters:")
        for key, value in sorted(state["counters"].items()):
            print(f"  {key:<28} {value}")
    return 0


def _bindings(state: dict[str, Any]) -> None:
    rows = state["bindings"]
    now = time.time()
    print(f"\nbindings ({len(rows)}):")
    peer_key = "mag" if state["role"] == "lma" else "lma"
    print(f"  {'MN':<28} {'prefix':<24} {peer_key:<16} {'state':<14} expires")
    for row in rows:
        status = "deleting" if row.get("deleting") else row.get("state", "registered")
        left = f"{row['expires'] - now:.0f} s" if row.get("expires") else "-"
        print(
            f"  {row['mn']:<28} {row['prefix'] or '-':<24} {row[peer_key]:<16} {status:<14} {left}"
        )


def _peers(state: dict[str, Any]) -> None:
    rows = state["peers"]
    now = time.time()
    print(f"\npeer trust ({len(rows)}):")
    print(f"  {'peer':<16} {'verdict':<8} {'reason':<16} {'device':<14} {'session':<10} detail")
    for row in rows:
        left = f"{row['expires'] - now:.0f} s" if row["expires"] > now else "none"
        print(
            f"  {row['peer']:<16} {row['verdict']:<8} {row['reason'] or '-':<16} "
            f"{row['device'] or '-':<14} {left:<10} {row['message']}"
        )
