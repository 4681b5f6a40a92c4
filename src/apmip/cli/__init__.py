"""The one `apmip` command: it only wires the library's parts together.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

# sub-command modules, in the order `apmip --help` lists them
COMMANDS = ("demo", "lma", "mag", "show", "mn", "pki", "attest", "refvals", "decode", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apmip",
        description="Proxy Mobile IPv6 with TPM 2.0 attestation of the MAG and the LMA.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"apmip.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"apmip.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader is gone (`apmip show ... | head`): stop quietly, as Unix tools do; stdout
        # points at /dev/null so that the interpreter's last flush finds nothing to complain of
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
