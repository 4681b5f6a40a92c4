"""`apmip pki`: a test manufacturer CA and per-device identity and attestation-key certificates.

apmip pki init DIR                                   create the CA in DIR/ca
apmip pki device DIR NAME --serial S [--ak-pem F] [--force]
                                                     IDevID + AK certificate for a device
apmip pki revoke DIR SERIAL                          add a serial to DIR/revoked.txt
apmip pki show DIR                                   devices, serials, fingerprints
apmip pki fingerprint CERT                           hardware fingerprint of an IDevID
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from apmip.attest import pki
from apmip.attest.trust import TrustStore
from apmip.errors import ApmipError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("pki", help="test CA, device identity and AK certificates")
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)

    p = sub.add_parser("init", help="create a test manufacturer CA in DIR/ca")
    p.add_argument("dir", type=Path)
    p.add_argument("--name", default=pki.CA_NAME, help="the CA's common name")
    p.set_defaults(func=_init)

    p = sub.add_parser("device", help="issue a device's IDevID and AK certificates")
    p.add_argument("dir", type=Path, help="the PKI directory (made by `apmip pki init`)")
    p.add_argument("name", help="device name: DIR/devices/NAME holds its files")
    p.add_argument("--serial", required=True, help="device serial (subject serialNumber)")
    p.add_argument("--model", default="apmip-software", help="device model name")
    p.add_argument(
        "--ak-pem",
        type=Path,
        help="a TPM attestation key's public PEM; without it a software AK is generated",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the keys and certificates of an existing device NAME",
    )
    p.set_defaults(func=_device)

    p = sub.add_parser("revoke", help="revoke a device serial (DIR/revoked.txt)")
    p.add_argument("dir", type=Path)
    p.add_argument("serial")
    p.set_defaults(func=_revoke)

    p = sub.add_parser("show", help="list the devices of a PKI directory")
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_show)

    p = sub.add_parser("fingerprint", help="hardware fingerprint of an IDevID certificate")
    p.add_argument("cert", type=Path)
    p.set_defaults(func=_fingerprint)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _init(args: argparse.Namespace) -> int:
    try:
        cert = pki.init_ca(args.dir, _now(), args.name)
    except ApmipError as exc:
        print(f"apmip pki init: {exc}")
        return 1
    print(f"CA certificate: {cert}")
    return 0


def _device(args: argparse.Namespace) -> int:
    try:
        ak_pem = args.ak_pem.read_bytes() if args.ak_pem else None
    except OSError as exc:
        print(f"apmip pki device: cannot read --ak-pem {args.ak_pem}: {exc.strerror or exc}")
        return 1
    try:
        paths = pki.issue_device(
            args.dir,
            args.name,
            args.serial,
            _now(),
            ak_pem,
            args.model,
            force=args.force,
            ak_source=f"--ak-pem {args.ak_pem}",
        )
    except (OSError, ApmipError) as exc:
        print(f"apmip pki device: {exc}")
        return 1
    idevid = pki.load_cert(paths.idevid_cert)
    print(f"device {args.name} serial {args.serial}")
    print(f"  IDevID certificate:  {paths.idevid_cert}")
    print(f"  AK certificate:      {paths.ak_cert}")
    if paths.ak_key is not None:
        print(f"  AK private key:      {paths.ak_key} (software attester)")
    print(f"  hardware fingerprint {pki.hardware_fingerprint(idevid)}")
    print(f"  AK cert digest       {pki.cert_digest(pki.load_cert(paths.ak_cert)).hex()}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        pki.revoke(args.dir, args.serial)
    except (OSError, ApmipError) as exc:
        print(f"apmip pki revoke: {exc}")
        return 1
    print(f"revoked {args.serial} in {args.dir / pki.REVOKED_FILE}")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        store = TrustStore.from_pki_dir(args.dir)
    except (OSError, ApmipError) as exc:
        print(f"apmip pki show: {exc}")
        return 1
    rows = [
        {
            "serial": d.serial,
            "subject": d.ak_cert.subject.rfc4514_string() if d.ak_cert else "(bare key)",
            "hardware_fingerprint": d.fingerprint,
            "ak_cert_digest": d.ak_cert_digest.hex(),
            "trusted": d.chained,
            "revoked": d.serial in store.revoked,
        }
        for d in store.devices()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        flags = "revoked" if row["revoked"] else ("trusted" if row["trusted"] else "UNTRUSTED")
        print(f"{row['serial']:<16} {flags:<9} fingerprint {row['hardware_fingerprint']}")
        print(f"{'':<16} {row['subject']}")
    return 0


def _fingerprint(args: argparse.Namespace) -> int:
    try:
        print(pki.hardware_fingerprint(pki.load_cert(args.cert)))
    except ApmipError as exc:
        print(f"apmip pki fingerprint: {exc}")
        return 1
    return 0
