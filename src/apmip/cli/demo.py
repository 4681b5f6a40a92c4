"""`apmip demo`: attach, hand over, detach, and two attestation refusals, on real daemons."""

from __future__ import annotations

import argparse

from apmip.runtime.config import DEFAULT_PORT


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run one LMA and MAGs on loopback: handover and attestation refusals"
    )
    parser.add_argument(
        "--tpm",
        choices=("software", "swtpm"),
        default="software",
        help="attester: software (default, no TPM needed) or swtpm instances "
        "the demo starts and stops itself",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"UDP port of every daemon (default {DEFAULT_PORT}, RFC 5844)",
    )
    parser.add_argument("--workdir", help="write configurations, PKI and logs here (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument(
        "--pcap", action="store_true", help="have every daemon write its traffic to run/NAME.pcap"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apmip.demo.run import run_demo

    return run_demo(args.workdir, args.port, args.tpm, args.pcap, args.keep)
