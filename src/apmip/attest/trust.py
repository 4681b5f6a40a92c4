"""The verifier's trust anchors: manufacturer CAs, provisioned devices, revoked serials.

Devices are provisioned in advance (identity by reference): evidence names its attestation-key
certificate only by the SHA-256 of its DER, and this store maps that digest to the device. The
chain of every provisioned certificate to a trusted CA is checked once, when the device or CA
is added, so an appraisal costs a dictionary look-up and not a certificate verification.
Validity periods are checked at appraisal time only when the caller passes ``now``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apmip.attest import pki
from apmip.errors import AttestationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """A provisioned device: its AK certificate (None for a key pinned without one) and,
    when known, its IDevID."""

    ak_cert: x509.Certificate | None
    ak_key: pki.PublicKey
    ak_cert_digest: bytes
    serial: str | None
    idevid: x509.Certificate | None
    fingerprint: str | None
    chained: bool  # AK (and IDevID, when present) issued by a trusted CA
    chain_problem: str

    def valid_at(self, now: dt.datetime) -> bool:
        certs = [c for c in (self.ak_cert, self.idevid) if c is not None]
        return all(c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in certs)


def _issued_by(cert: x509.Certificate, cas: Iterable[x509.Certificate]) -> bool:
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


class TrustStore:
    """CA certificates, provisioned devices (by AK certificate digest), revoked serials."""

    def __init__(
        self,
        cas: Iterable[x509.Certificate] = (),
        revoked: Iterable[str] = (),
    ) -> None:
        self._cas: list[x509.Certificate] = list(cas)
        self._devices: dict[bytes, Device] = {}
        self.revoked: set[str] = set(revoked)

    def add_ca(self, cert: x509.Certificate) -> None:
        self._cas.append(cert)
        # re-check every device: one that did not chain before may now
        for device in list(self._devices.values()):
            if device.ak_cert is not None:
                self.add_device(device.ak_cert, device.idevid)

    def add_device(
        self, ak_cert: x509.Certificate, idevid: x509.Certificate | None = None
    ) -> Device:
        key = ak_cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise AttestationError(f"AK certificate key {type(key).__name__} is not ECDSA or RSA")
        serial = pki.device_serial(ak_cert)
        problem = ""
        if not _issued_by(ak_cert, self._cas):
            problem = f"AK certificate issuer '{ak_cert.issuer.rfc4514_string()}' is not trusted"
        elif idevid is not None and not _issued_by(idevid, self._cas):
            problem = f"IDevID issuer '{idevid.issuer.rfc4514_string()}' is not trusted"
        elif idevid is not None and pki.device_serial(idevid) != serial:
            problem = (
                f"IDevID serial {pki.device_serial(idevid)!r} differs from AK serial {serial!r}"
            )
        device = Device(
            ak_cert=ak_cert,
            ak_key=key,
            ak_cert_digest=pki.cert_digest(ak_cert),
            serial=serial,
            idevid=idevid,
            fingerprint=pki.hardware_fingerprint(idevid) if idevid is not None else None,
            chained=not problem,
            chain_problem=problem,
        )
        self._devices[device.ak_cert_digest] = device
        return device

    def add_key(self, key: pki.PublicKey, serial: str | None = None) -> Device:
        """Trust a bare attestation key the operator vouches for (no certificate, no CA).
        Evidence refers to it by the SHA-256 of its SubjectPublicKeyInfo DER."""
        spki = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        device = Device(
            ak_cert=None,
            ak_key=key,
            ak_cert_digest=hashlib.sha256(spki).digest(),
            serial=serial,
            idevid=None,
            fingerprint=None,
            chained=True,
            chain_problem="",
        )
        self._devices[device.ak_cert_digest] = device
        return device

    def revoke(self, serial: str) -> None:
        self.revoked.add(serial)

    def lookup(self, ak_cert_digest: bytes) -> Device | None:
        return self._devices.get(ak_cert_digest)

    def devices(self) -> list[Device]:
        return list(self._devices.values())

    @classmethod
    def from_pki_dir(cls, directory: Path, include_cas: bool = True) -> TrustStore:
        """A store trusting the directory's CA, with all its devices and its revocation list.
        ``include_cas=False`` provisions the devices without trusting their CA."""
        cas = [pki.load_cert(directory / "ca" / "ca.cert.pem")] if include_cas else []
        revoked_path = directory / pki.REVOKED_FILE
        revoked = pki.read_revoked(revoked_path) if revoked_path.exists() else set()
        store = cls(cas, revoked)
        devices_dir = directory / "devices"
        if devices_dir.is_dir():
            for sub in sorted(devices_dir.iterdir()):
                store.add_device_dir(sub)
        return store

    def add_device_dir(self, directory: Path) -> Device:
        """Provision the device whose `apmip pki device` output is in ``directory``."""
        idevid_path = directory / "idevid.cert.pem"
        idevid = pki.load_cert(idevid_path) if idevid_path.exists() else None
        return self.add_device(pki.load_cert(directory / "ak.cert.pem"), idevid)
