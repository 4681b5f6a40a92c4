"""A small test PKI: a manufacturer CA, device identity and attestation-key certificates.

Layout of a PKI directory (what `apmip pki` writes and :class:`TrustStore` reads)::

    ca/ca.key.pem, ca/ca.cert.pem         the manufacturer CA (ECDSA P-256, self-signed)
    devices/NAME/idevid.key.pem           the device identity key
    devices/NAME/idevid.cert.pem          IEEE 802.1AR-style IDevID (what vendors call SUDI):
                                          subject CN=NAME, serialNumber=SERIAL
    devices/NAME/ak.cert.pem              attestation-key certificate: same serialNumber,
                                          TCG AK extended key usage (2.23.133.8.3)
    devices/NAME/ak.key.pem               only for a software attester: its private AK
    revoked.txt                           revoked device serials, one per line (# comments)

The hardware fingerprint of a device is the SHA-256 over its IDevID certificate's DER, in hex.
Certificate serial numbers are derived from the subject and key (no random source needed);
IDevIDs never expire (notAfter 9999-12-31 23:59:59, IEEE 802.1AR section 8.5).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from apmip.errors import AttestationError, ConfigError

TCG_KP_AIK_CERTIFICATE = ObjectIdentifier("2.23.133.8.3")
NEVER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
CA_NAME = "apmip Test Manufacturer CA"
ORGANISATION = "apmip test devices"
REVOKED_FILE = "revoked.txt"

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class DevicePaths:
    directory: Path
    idevid_cert: Path
    idevid_key: Path
    ak_cert: Path
    ak_key: Path | None


def cert_digest(cert: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER: how evidence refers to its AK certificate."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def hardware_fingerprint(idevid: x509.Certificate) -> str:
    """The device's hardware fingerprint: SHA-256 over its IDevID DER, lower-case hex."""
    return cert_digest(idevid).hex()


def device_serial(cert: x509.Certificate) -> str | None:
    """The subject serialNumber attribute (the device serial), if there is exactly one."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


def _serial_number(subject: x509.Name, key: PublicKey) -> int:
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(subject.public_bytes() + spki).digest()
    return int.from_bytes(digest[:16], "big") >> 1 | 1  # positive, at most 127 bits, non-zero


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_cert(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttestationError(f"cannot read certificate {path}: {exc}") from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise AttestationError(f"{path} is not an X.509 certificate: {exc}") from exc


def load_public_key(data: bytes) -> PublicKey:
    """An ECDSA or RSA public key from PEM SubjectPublicKeyInfo (or a certificate)."""
    try:
        key: object = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"BEGIN CERTIFICATE" in data
            else serialization.load_pem_public_key(data)
        )
    except ValueError as exc:
        raise AttestationError(f"not a PEM public key or certificate: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise AttestationError(f"public key type {type(key).__name__} is neither ECDSA nor RSA")
    return key


def init_ca(directory: Path, now: dt.datetime, name: str = CA_NAME) -> Path:
    """Create the manufacturer CA under ``directory/ca``; refuses to overwrite one."""
    ca_dir = directory / "ca"
    if (ca_dir / "ca.key.pem").exists():
        raise AttestationError(f"{ca_dir} already holds a CA; use another directory")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial_number(subject, key.public_key()))
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(ca_dir / "ca.key.pem", key)
    _write_cert(ca_dir / "ca.cert.pem", cert)
    return ca_dir / "ca.cert.pem"


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path = directory / "ca" / "ca.key.pem"
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AttestationError(f"cannot load CA key {key_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AttestationError(f"{key_path} is not an ECDSA key")
    return key, load_cert(directory / "ca" / "ca.cert.pem")


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public: PublicKey,
    now: dt.datetime,
    ak: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(_serial_number(subject, public))
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(NEVER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if ak:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([TCG_KP_AIK_CERTIFICATE]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def issue_device(
    directory: Path,
    name: str,
    serial: str,
    now: dt.datetime,
    ak_public_pem: bytes | None = None,
    model: str = "apmip-software",
    *,
    force: bool = False,
    ak_source: str = "the AK public key",
) -> DevicePaths:
    """Issue an IDevID and an AK certificate for device ``name`` with serial ``serial``.

    Without ``ak_public_pem`` a software attestation key is generated and written too.
    Refuses, before anything is written: a device folder that already holds keys or
    certificates (unless ``force``), a serial another device of ``directory`` carries, and an
    AK PEM that is not a public key or is the CA's own key. ``ak_source`` names the PEM in
    those refusals (the CLI passes the file's path).
    """
    if not name or "/" in name or name.startswith("."):
        raise AttestationError(f"device name {name!r} must be a plain file name")
    ca_key, ca_cert = _load_ca(directory)
    out = directory / "devices" / name
    existing = [p.name for p in _device_files(out) if p.exists()]
    if existing and not force:
        raise AttestationError(
            f"{out} already holds device {name!r} ({', '.join(existing)}); pass --force to "
            "replace its keys and certificates (the old ones stop being trusted), or choose "
            "another name"
        )
    other = _device_with_serial(directory, serial, name)
    if other is not None:
        raise AttestationError(
            f"serial {serial!r} is already used by device {other.parent.name!r} ({other}); "
            "give each device its own serial"
        )
    ak_public = None if ak_public_pem is None else _ak_public_key(ak_public_pem, ak_source)
    if ak_public is not None and _spki(ak_public) == _spki(ca_key.public_key()):
        raise AttestationError(
            f"{ak_source} is the CA's own public key, not an attestation key; give the TPM "
            "attestation key's public PEM (tpm2_createak ... -u ak.pem -f pem)"
        )

    id_key = ec.generate_private_key(ec.SECP256R1())
    id_subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.PSEUDONYM, model),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    idevid = _issue(ca_key, ca_cert, id_subject, id_key.public_key(), now, ak=False)
    ak_key_path: Path | None = None
    if ak_public is None:
        ak_key = ec.generate_private_key(ec.SECP256R1())
        ak_public = ak_key.public_key()
        ak_key_path = out / "ak.key.pem"
        _write_private(ak_key_path, ak_key)
    else:
        # a replaced software AK must not outlive its certificate
        (out / "ak.key.pem").unlink(missing_ok=True)
    ak_subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} attestation key"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    ak_cert = _issue(ca_key, ca_cert, ak_subject, ak_public, now, ak=True)
    _write_private(out / "idevid.key.pem", id_key)
    _write_cert(out / "idevid.cert.pem", idevid)
    _write_cert(out / "ak.cert.pem", ak_cert)
    return DevicePaths(
        out, out / "idevid.cert.pem", out / "idevid.key.pem", out / "ak.cert.pem", ak_key_path
    )


def _device_files(out: Path) -> tuple[Path, ...]:
    names = ("idevid.cert.pem", "idevid.key.pem", "ak.cert.pem", "ak.key.pem")
    return tuple(out / n for n in names)


def _device_with_serial(directory: Path, serial: str, name: str) -> Path | None:
    """The certificate of another device of ``directory`` that carries ``serial``, if any."""
    devices = directory / "devices"
    if not devices.is_dir():
        return None
    for folder in sorted(devices.iterdir()):
        if folder.name == name or not folder.is_dir():
            continue
        for path in (folder / "idevid.cert.pem", folder / "ak.cert.pem"):
            if not path.exists():
                continue
            try:
                if device_serial(load_cert(path)) == serial:
                    return path
            except AttestationError:
                continue  # an unreadable certificate carries no serial to collide with
    return None


def _ak_public_key(data: bytes, source: str) -> PublicKey:
    """The public key of an AK PEM; a certificate or a private key is refused by name."""
    fix = "give the TPM attestation key's public PEM (tpm2_createak ... -u ak.pem -f pem)"
    if b"-----BEGIN CERTIFICATE-----" in data:
        raise AttestationError(f"{source} is a certificate, not a public key; {fix}")
    if b"PRIVATE KEY-----" in data:
        raise AttestationError(f"{source} holds a private key, not a public key; {fix}")
    if b"PUBLIC KEY-----" not in data:
        raise AttestationError(f"{source} is not a PEM public key; {fix}")
    try:
        return load_public_key(data)
    except AttestationError as exc:
        raise AttestationError(f"{source}: {exc}; {fix}") from exc


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def revoke(directory: Path, serial: str) -> None:
    """Append a device serial to the PKI directory's revocation list."""
    path = directory / REVOKED_FILE
    existing = read_revoked(path) if path.exists() else set()
    if serial not in existing:
        data = path.read_bytes() if path.exists() else b""
        # a last line without its newline must not swallow the new serial
        separator = "\n" if data and not data.endswith(b"\n") else ""
        with path.open("a", encoding="utf-8") as f:
            f.write(separator + serial + "\n")


def read_revoked(path: Path) -> set[str]:
    """Serials from a revocation list file: one per line, blank lines and # comments ignored.

    A file that cannot be read, or is not UTF-8 text, raises :class:`ConfigError` naming the
    file, the line and the fix.
    """
    fix = "write it as UTF-8 text: one device serial per line, # starts a comment"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            str(path), "revocation list", f"cannot be read: {exc.strerror or exc}", fix
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
        raise ConfigError(str(path), f"line {line}", problem, fix) from None
    return {line.split("#", 1)[0].strip() for line in text.splitlines()} - {""}
