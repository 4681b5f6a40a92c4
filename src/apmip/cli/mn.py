"""`apmip mn attach|detach`: tell a running MAG that a mobile node came or went."""

from __future__ import annotations

import argparse
import sys

from apmip.runtime.daemon import socket_request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("mn", help="attach or detach a mobile node at a running MAG")
    parser.add_argument("action", choices=("attach", "detach"))
    parser.add_argument("mn", help="the mobile node identifier (an NAI, RFC 4283)")
    parser.add_argument("--socket", "-s", required=True, help="the MAG's control socket")
    parser.add_argument(
        "--att",
        type=int,
        default=4,
        help="Access Technology Type (RFC 5213 section 8.5; 4 = IEEE 802.11)",
    )
    parser.add_argument(
        "--handoff",
        type=int,
        default=1,
        help="Handoff Indicator (RFC 5213 section 8.4; 1 = new interface)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        default=0.0,
        help="wait up to SECONDS for the outcome and print it (exit 1 unless "
        "the binding was established or removed)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    request: dict[str, object] = {"op": args.action, "mn": args.mn}
    if args.action == "attach":
        request.update(att=args.att, handoff=args.handoff)
    if args.wait > 0:
        request.update(wait=True, timeout=args.wait)
    try:
        answer = socket_request(args.socket, request, timeout=args.wait + 5.0)
    except (OSError, ValueError) as exc:
        print(
            f"apmip mn: cannot reach {args.socket}: {exc} (is the MAG running?)", file=sys.stderr
        )
        return 1
    if not answer.get("ok"):
        print(f"apmip mn: {answer.get('error')}", file=sys.stderr)
        return 1
    outcome = answer.get("outcome")
    if outcome is None:
        print(f"{args.action} {args.mn}: sent")
        return 0
    detail = outcome.get("detail", {})
    facts = " ".join(f"{k}={v}" for k, v in detail.items() if k != "latency")
    latency = detail.get("latency")
    took = f" in {latency * 1000:.1f} ms" if isinstance(latency, int | float) else ""
    print(f"{args.action} {args.mn}: {outcome['kind']}{took} {facts}".rstrip())
    return (
        0
        if outcome["kind"] in ("binding-established", "binding-refreshed", "binding-removed")
        else 1
    )
