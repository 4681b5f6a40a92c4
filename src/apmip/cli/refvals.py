"""`apmip refvals`: record and inspect reference values (docs/attestation.md).

    apmip refvals record CONFIG --role mag --name NAME [--release R] [-o FILE] [--merge]
    apmip refvals import -m MSG -o PCRS --name NAME --out FILE [--eventlog LOG] [--merge]
    apmip refvals show FILE [--json]

``record`` performs the start-up measurements a daemon with CONFIG would perform, on a
scratch copy of its attester state (software attester) or without extending the TPM (a real
TPM), and writes them as one reference set. Run it on a known-good node.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apmip.attest.refvals import ReferenceValues
from apmip.errors import ApmipError, ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("refvals", help="record and show reference values")
    sub = parser.add_subparsers(dest="refvals_command", metavar="ACTION", required=True)

    p = sub.add_parser("record", help="record a reference set from a known-good node")
    p.add_argument("config", type=Path, help="the daemon's TOML configuration")
    p.add_argument("--role", choices=("mag", "lma"), required=True)
    p.add_argument("--name", required=True, help="name of the reference set")
    p.add_argument("--release", default="", help="software release the set describes")
    p.add_argument("-o", "--out", type=Path, help="write here (default: print)")
    p.add_argument("--merge", action="store_true", help="add the set to an existing --out file")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_record)

    p = sub.add_parser("import", help="a reference set from tpm2_quote -m/-o files")
    p.add_argument("-m", "--message", type=Path, required=True, help="TPMS_ATTEST of the quote")
    p.add_argument("-o", "--pcrs", type=Path, required=True, help="PCR values of the quote")
    p.add_argument("--pcrs-format", choices=("auto", "values", "serialized"), default="auto")
    p.add_argument("--eventlog", type=Path, help="the TCG event log, to name components")
    p.add_argument("--name", required=True)
    p.add_argument("--model", default="")
    p.add_argument("--release", default="")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--merge", action="store_true", help="add the set to an existing --out file")
    p.set_defaults(func=_import)

    p = sub.add_parser("show", help="summarise a reference values file")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the file's JSON, normalised")
    p.set_defaults(func=_show)


def _record(args: argparse.Namespace) -> int:
    # the runtime knows how a daemon measures itself; recording reuses exactly that path
    from apmip.runtime import config as config_module
    from apmip.runtime.node import record_references

    if args.out is not None and args.out.exists() and not args.merge and not args.force:
        print(
            f"apmip refvals record: {args.out} exists and holds other nodes' reference sets; "
            "add --merge to add this set to it, or --force to replace the whole file",
            file=sys.stderr,
        )
        return 2

    try:
        # the node's own verifier inputs (its peers' references and certificates) may not
        # exist yet: each side's references are recorded before the other's verifier is set up
        config = config_module.load(args.config, args.role, for_recording=True)
        refs = record_references(config, args.name, args.release)
        if args.merge and args.out is not None and args.out.exists():
            refs = ReferenceValues.load(args.out).merged(refs)
    except ConfigError as exc:
        print(f"apmip refvals record: configuration error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ApmipError) as exc:
        print(f"apmip refvals record: {exc}", file=sys.stderr)
        return 1
    if args.out is None:
        sys.stdout.write(refs.dumps())
        return 0
    refs.save(args.out)
    ref = refs.sets[-1]
    print(f"reference set {ref.name!r}: {len(ref.pcrs)} PCR values, {len(ref.events)} events")
    print(f"written to {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    # the quote is not verified here: import only from a machine known to be good
    from apmip.attest import tpm2, tpm2tools
    from apmip.attest.eventlog import parse_log
    from apmip.attest.refvals import ReferenceSet

    try:
        attest = tpm2.parse_attest(args.message.read_bytes())
        quoted = attest.quote.pcr_select if attest.quote is not None else ()
        values = tpm2tools.read_pcrs(args.pcrs.read_bytes(), quoted, args.pcrs_format)
        events = parse_log(args.eventlog.read_bytes()).events() if args.eventlog else ()
        ref = ReferenceSet(
            name=args.name,
            model=args.model,
            release=args.release,
            pcrs=tuple((v.bank, v.index, v.value) for v in values),
            events=events,
            replay_pcrs=(),
        )
        refs = ReferenceValues((ref,))
        if args.merge and args.out.exists():
            refs = ReferenceValues.load(args.out).merged(refs)
        refs.save(args.out)
    except (OSError, ApmipError) as exc:
        print(f"apmip refvals import: {exc}", file=sys.stderr)
        return 1
    print(f"reference set {args.name!r}: {len(values)} PCR values, {len(events)} events")
    print(f"written to {args.out}")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        refs = ReferenceValues.load(args.file)
    except ApmipError as exc:
        print(f"apmip refvals show: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(refs.to_json(), indent=2))
        return 0
    for ref in refs.sets:
        serials = ", ".join(ref.serials) or "any device"
        print(f"set {ref.name!r}  model {ref.model}  release {ref.release or '-'}  ({serials})")
        for bank, index, value in ref.pcrs:
            print(f"  {bank:<7} PCR {index:>2}  {value.hex()}")
        for pcr in ref.replay_pcrs:
            count = len(ref.events_for(pcr))
            print(f"  replay  PCR {pcr:>2}  {count} allowed events")
        for event in ref.events:
            print(
                f"    PCR {event.pcr:>2} {event.kind:<15} {event.name}  {event.sha256.hex()[:16]}"
            )
    return 0
