"""`apmip show`: what a running daemon holds (bindings, peer trust, counters)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from apmip.runtime.daemon import socket_request

VIEWS = ("bindings", "peers", "counters", "all")

# what a daemon's answer to {"op": "show"} holds, and of which type
FIELDS: dict[str, type | tuple[type, ...]] = {
    "role": str,
    "name": str,
    "address": str,
    "uptime": (int, float),
    "bindings": list,
    "peers": list,
    "counters": dict,
}


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
        print(
            f"apmip show: cannot reach {args.socket}: {exc} (is the daemon running?)",
            file=sys.stderr,
        )
        return 1
    if not state.get("ok"):
        print(f"apmip show: {args.socket}: {state.get('error')}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(state, indent=2, default=str))
        return 0
    wrong = [k for k, kind in FIELDS.items() if not isinstance(state.get(k), kind)]
    if wrong:
        print(
            f"apmip show: {args.socket} answered without a valid {', '.join(wrong)} "
            "(is it the control socket of an apmip daemon?)",
            file=sys.stderr,
        )
        return 1
    try:
        _print(state, args.view)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        print(f"apmip show: {args.socket} answered a malformed state: {exc!r}", file=sys.stderr)
        return 1
    return 0


def _print(state: dict[str, Any], view: str) -> None:
    print(
        f"{state['role'].upper()} {state['name']} at {state['address']}, "
        f"up {state['uptime']:.0f} s"
    )
    if view in ("bindings", "all"):
        _bindings(state)
    if view in ("peers", "all"):
        _peers(state)
    if view in ("counters", "all"):
        print("\ncounters:")
        for key, value in sorted(state["counters"].items()):
            print(f"  {key:<28} {value}")
        if not state["counters"]:
            print("  (none)")


def _bindings(state: dict[str, Any]) -> None:
    rows = state["bindings"]
    now = time.time()
    print(f"\nbindings ({len(rows)}):")
    peer_key = "mag" if state["role"] == "lma" else "lma"
    print(f"  {'MN':<28} {'prefix':<24} {peer_key:<16} {'state':<14} expires")
    for row in rows:
        status = "deleting" if row.get("deleting") else row.get("state", "registered")
        left = _left(row, status, now)
        print(
            f"  {row['mn']:<28} {row['prefix'] or '-':<24} {row[peer_key]:<16} {status:<14} {left}"
        )


def _left(row: dict[str, Any], status: str, now: float) -> str:
    """Seconds until the entry ends: its deletion for an LMA entry being deleted, its lifetime
    for a registered one; "-" for a MAG entry that is not (yet, or any more) registered."""
    if status == "deleting":
        end = row.get("delete_at")
    elif status == "registered":
        end = row.get("expires")
    else:
        return "-"
    if not isinstance(end, int | float) or isinstance(end, bool) or not end:
        return "-"
    return f"{max(0.0, end - now):.0f} s"


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
