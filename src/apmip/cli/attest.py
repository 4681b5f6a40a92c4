"""`apmip attest`: appraise a quote taken on any machine, and produce one in software.

    apmip attest verify -m MSG -s SIG -o PCRS --nonce HEX --refvals FILE
                        (--ak-cert CERT --ca CA [--idevid CERT] | --ak-pem PEM) [...]
    apmip attest quote  --key AK.pem --state S.json -l sha256:0,4 -q HEX -m MSG -s SIG -o PCRS
    apmip attest eventlog FILE

``verify`` reads what `tpm2_quote -m MSG -s SIG -o PCRS` wrote (signature in tss or plain
format, PCRs as values or serialized), checks it with the same verifier the daemons use and
prints the result: exit 0 for accept or warn, 1 for reject, 2 when the inputs are unusable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from apmip.attest import pki, tpm2, tpm2tools
from apmip.attest.attester import PcrBank
from apmip.attest.binding import SignallingContext, qualifying_data
from apmip.attest.boot import simulate_boot
from apmip.attest.eventlog import EventLog, encode_log, parse_log
from apmip.attest.events import Event
from apmip.attest.evidence import Evidence
from apmip.attest.measure import DEFAULT_APP_PCR, config_items, measure
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import AttestationResult, ClockState, Policy
from apmip.attest.software import SoftwareAttester
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier
from apmip.errors import ApmipError


class _Usage(Exception):
    """Inputs that cannot be used at all (exit code 2)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("attest", help="appraise or produce TPM quotes")
    sub = parser.add_subparsers(dest="attest_command", metavar="ACTION", required=True)

    p = sub.add_parser("verify", help="appraise tpm2_quote output files")
    p.add_argument("-m", "--message", type=Path, required=True, help="TPMS_ATTEST (-m)")
    p.add_argument("-s", "--signature", type=Path, required=True, help="signature (-s)")
    p.add_argument("-o", "--pcrs", type=Path, required=True, help="PCR values (-o)")
    nonce = p.add_mutually_exclusive_group(required=True)
    nonce.add_argument("--nonce", help="the qualifying data given to tpm2_quote -q, as hex")
    nonce.add_argument("--nonce-file", type=Path, help="the same, as a binary file")
    p.add_argument(
        "--context",
        help="ROLE,SENDER,RECEIVER,MN_ID,SEQ: the quote answers apmip's qualifying data "
        "for this nonce and signalling context instead of the bare nonce",
    )
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--ak-cert", type=Path, help="the attestation key's certificate")
    key.add_argument("--ak-pem", type=Path, help="a bare AK public key PEM, trusted as given")
    p.add_argument("--ca", type=Path, action="append", default=[], help="trusted CA (repeat)")
    p.add_argument("--idevid", type=Path, help="the device's IDevID certificate")
    p.add_argument("--revoked", type=Path, help="revocation list: one serial per line")
    p.add_argument("--refvals", type=Path, required=True, help="reference values (JSON)")
    p.add_argument("--eventlog", type=Path, help="TCG crypto-agile event log to replay")
    p.add_argument("--pcr-list", help="the selection you asked for, e.g. sha256:0,1,7")
    p.add_argument("--sig-format", choices=("auto", "tss", "plain"), default="auto")
    p.add_argument("--pcrs-format", choices=("auto", "values", "serialized"), default="auto")
    p.add_argument("--scheme", choices=("rsassa", "rsapss"), default="rsassa")
    p.add_argument("-g", "--hash", default="sha256", help="hash of a plain signature")
    p.add_argument("--policy", type=Path, help="policy table (TOML or JSON)")
    p.add_argument("--previous", type=Path, help="JSON of an earlier result (its clock)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_verify)

    p = sub.add_parser("quote", help="quote with a software attester, as tpm2_quote would")
    p.add_argument("--key", type=Path, required=True, help="software AK private key PEM")
    p.add_argument("--state", type=Path, required=True, help="software TPM state file")
    p.add_argument("--boot", action="store_true", help="extend the simulated boot chain")
    p.add_argument("--measure", type=Path, action="append", default=[], help="config file")
    p.add_argument("--app-pcr", type=int, default=DEFAULT_APP_PCR)
    p.add_argument("-l", "--pcr-list", required=True)
    p.add_argument("-q", "--qualification", required=True, help="qualifying data, hex")
    p.add_argument("-m", "--message", type=Path, required=True)
    p.add_argument("-s", "--signature", type=Path, required=True)
    p.add_argument("-o", "--pcrs", type=Path, required=True)
    p.add_argument("--eventlog", type=Path, help="write the TCG event log here")
    p.add_argument("--refvals", type=Path, help="also record these PCRs as reference values")
    p.add_argument("--clock", type=int, help="TPM clock in ms (default: wall clock)")
    p.set_defaults(func=_quote)

    p = sub.add_parser("eventlog", help="list a TCG crypto-agile event log")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_eventlog)


# -- verify --


def _verify(args: argparse.Namespace) -> int:
    try:
        result = _appraise(args)
    except _Usage as exc:
        print(f"apmip attest verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    return 1 if result.verdict == "reject" else 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc}") from exc


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise _Usage(f"{what} {text!r} is not hex") from None


def _appraise(args: argparse.Namespace) -> AttestationResult:
    trust, digest, key = _trust(args)
    message = _read(args.message)
    try:
        attest = tpm2.parse_attest(message)
        quoted = attest.quote.pcr_select if attest.quote is not None else ()
        values = tpm2tools.read_pcrs(_read(args.pcrs), quoted, args.pcrs_format)
        signature = tpm2tools.read_signature(
            _read(args.signature), key, args.sig_format, args.scheme, args.hash
        ).marshal()
        event_log = parse_log(_read(args.eventlog)) if args.eventlog else None
    except ApmipError as exc:
        return AttestationResult("reject", "malformed", "instance-identity", str(exc))
    try:
        selection = (
            tpm2tools.parse_pcr_list(args.pcr_list)
            if args.pcr_list
            else tuple(PcrBank(s.bank, s.pcrs) for s in quoted)
        )
        references = ReferenceValues.load(args.refvals)
        policy = Policy.from_config(_load_table(args.policy), str(args.policy))
    except ApmipError as exc:
        raise _Usage(str(exc)) from exc
    evidence = Evidence(message, signature, digest, values)
    verifier = Verifier(trust, references, policy, selection)
    return verifier.appraise_quote(
        evidence, _extra_data(args), _previous(args), event_log=event_log, peer=str(args.message)
    )


def _trust(args: argparse.Namespace) -> tuple[TrustStore, bytes, pki.PublicKey]:
    try:
        revoked = pki.read_revoked(args.revoked) if args.revoked else set()
        store = TrustStore([pki.load_cert(p) for p in args.ca], revoked)
        if args.ak_pem is not None:
            key = pki.load_public_key(_read(args.ak_pem))
            device = store.add_key(key)
        else:
            idevid = pki.load_cert(args.idevid) if args.idevid else None
            device = store.add_device(pki.load_cert(args.ak_cert), idevid)
    except ApmipError as exc:
        raise _Usage(str(exc)) from exc
    return store, device.ak_cert_digest, device.ak_key


def _extra_data(args: argparse.Namespace) -> bytes:
    nonce = _read(args.nonce_file) if args.nonce_file else _hex(args.nonce, "--nonce")
    if not args.context:
        return nonce
    parts = args.context.split(",")
    if len(parts) != 5 or not parts[4].isdigit():
        raise _Usage(f"--context {args.context!r} is not ROLE,SENDER,RECEIVER,MN_ID,SEQ")
    try:
        context = SignallingContext(parts[0], parts[1], parts[2], parts[3].encode(), int(parts[4]))
        return qualifying_data(nonce, context)
    except ApmipError as exc:
        raise _Usage(str(exc)) from exc


def _load_table(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = _read(path).decode()
    try:
        table = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:
        raise _Usage(f"{path}: {exc}") from exc
    # accept a whole daemon config too: take its [attestation.policy] table
    nested = table.get("attestation", {}).get("policy") if "attestation" in table else None
    return dict(nested if isinstance(nested, dict) else table)


def _previous(args: argparse.Namespace) -> ClockState | None:
    if args.previous is None:
        return None
    try:
        clock = json.loads(_read(args.previous))["clock"]
        return ClockState(
            int(clock["clock"]),
            int(clock["reset_count"]),
            int(clock["restart_count"]),
            bool(clock["safe"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _Usage(f"--previous {args.previous}: no clock state in it ({exc})") from exc


def _print_result(result: AttestationResult) -> None:
    print(f"verdict   {result.verdict}")
    print(f"reason    {result.reason} ({result.aspect})")
    print(f"message   {result.message}")
    if result.serial or result.fingerprint:
        print(f"device    serial {result.serial or '-'}  fingerprint {result.fingerprint or '-'}")
    if result.reference_set:
        print(f"reference {result.reference_set}")
    if result.clock is not None:
        c = result.clock
        print(
            f"clock     {c.clock} ms  resetCount {c.reset_count}  "
            f"restartCount {c.restart_count}  safe {'yes' if c.safe else 'no'}"
        )
    for aspect, tier in result.tiers:
        print(f"  {aspect:<18} {tier}")
    for warning in result.warnings[1:]:
        print(f"warning   {warning}")


# -- quote --


def _quote(args: argparse.Namespace) -> int:
    try:
        selection = tpm2tools.parse_pcr_list(args.pcr_list)
        clock = args.clock

        def now_ms() -> int:
            return clock if clock is not None else int(time.time() * 1000)

        attester = SoftwareAttester(args.key, args.state, now_ms)
        events: tuple[Event, ...] = simulate_boot(attester) if args.boot else ()
        events += measure(attester, config_items(args.measure), args.app_pcr)
        quote = attester.quote(_hex(args.qualification, "-q"), selection)
        read = attester.pcr_read(selection)
    except (ApmipError, _Usage) as exc:
        print(f"apmip attest quote: {exc}", file=sys.stderr)
        return 1
    values = tpm2tools.read_pcrs(
        b"".join(read[(b.hash_alg, p)] for b in selection for p in b.pcrs),
        tpm2.parse_attest(quote.attest).quote.pcr_select,  # type: ignore[union-attr]
        "values",
    )
    tpm2tools.write_outputs(quote, values, args.message, args.signature, args.pcrs)
    if args.eventlog:
        args.eventlog.write_bytes(encode_log(events))
    if args.refvals:
        refs = ReferenceValues.record(attester, selection, events, name="recorded", replay_pcrs=())
        refs.save(args.refvals)
    public = attester.ak_public_pem()
    spki = serialization.load_pem_public_key(public).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    print(f"quoted {args.pcr_list}: {len(quote.attest)}-byte TPMS_ATTEST")
    print(f"AK SHA-256(SPKI) {hashlib.sha256(spki).hexdigest()}")
    return 0


# -- eventlog --


def _eventlog(args: argparse.Namespace) -> int:
    try:
        event_log: EventLog = parse_log(_read(args.file))
    except (ApmipError, _Usage) as exc:
        print(f"apmip attest eventlog: {exc}", file=sys.stderr)
        return 1
    rows = []
    positions = event_log.positions()
    for index, record in enumerate(event_log.records, start=1):
        event = record.event(positions[index - 1])
        rows.append(
            {
                "index": index,
                "pcr": record.pcr,
                "type": f"0x{record.event_type:08x}",
                "kind": event.kind if event else None,
                "name": event.name if event else record.label(positions[index - 1]),
                "digests": {bank: d.hex() for bank, d in record.digests},
            }
        )
    pcrs = sorted({r.pcr for r in event_log.records if r.pcr <= 23})
    replayed = {
        bank: {str(p): event_log.replay(bank, p).hex() for p in pcrs} for bank in event_log.banks
    }
    if args.json:
        print(json.dumps({"banks": event_log.banks, "records": rows, "pcrs": replayed}, indent=2))
        return 0
    for row in rows:
        print(f"#{row['index']:<4} PCR {row['pcr']:>2}  {row['kind'] or '-':<15} {row['name']}")
    for bank, values in replayed.items():
        for pcr, value in values.items():
            print(f"{bank:<7} PCR {pcr:>2} = {value}")
    return 0
