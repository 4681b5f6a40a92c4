"""Checking a TPMT_SIGNATURE with the scheme and hash the certified key allows.

ECDSA keys sign with the hash their curve pairs with (P-256: SHA-256, P-384: SHA-384); RSA
keys sign RSASSA-PKCS1-v1_5 or RSASSA-PSS with SHA-256, SHA-384 or SHA-512, and an RSA
signature is exactly the modulus size (TPM 2.0 Part 1, annex B). Nothing here reads a clock,
a socket or a random source; failures raise :class:`VerificationError` with reason ``scheme``
or ``signature``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apmip.attest import tpm2
from apmip.errors import VerificationError

ECDSA_CURVES = {"secp256r1": ("sha256", 32), "secp384r1": ("sha384", 48)}
RSA_HASHES = ("sha256", "sha384", "sha512")
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
ECDSA = {name: ec.ECDSA(chosen) for name, chosen in HASHES.items()}


def check_signature(key: object, sig: tpm2.Signature, message: bytes) -> None:
    """Verify a TPMT_SIGNATURE over ``message`` with the key's allowed scheme and hash."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        allowed = ECDSA_CURVES.get(key.curve.name)
        if sig.sig_alg != tpm2.TPM_ALG_ECDSA or allowed is None or sig.hash != allowed[0]:
            raise VerificationError(
                "scheme",
                f"{sig.scheme}-{sig.hash} signature for an ECDSA {key.curve.name} key "
                f"(allowed: ecdsa-{allowed[0] if allowed else 'none'})",
                "instance-identity",
            )
        size = allowed[1]
        if not (0 < len(sig.r) <= size and 0 < len(sig.s) <= size):
            raise VerificationError(
                "signature",
                f"ECDSA r of {len(sig.r)} and s of {len(sig.s)} bytes for a {size}-byte curve",
                "instance-identity",
            )
        der = encode_dss_signature(int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big"))
        try:
            key.verify(der, message, ECDSA[sig.hash])
        except InvalidSignature:
            raise VerificationError(
                "signature",
                "ECDSA signature does not verify with the certified AK",
                "instance-identity",
            ) from None
        return
    if isinstance(key, rsa.RSAPublicKey):
        if (
            sig.sig_alg not in (tpm2.TPM_ALG_RSASSA, tpm2.TPM_ALG_RSAPSS)
            or sig.hash not in RSA_HASHES
        ):
            raise VerificationError(
                "scheme",
                f"{sig.scheme}-{sig.hash} signature for an RSA key (allowed: rsassa or rsapss "
                f"with {', '.join(RSA_HASHES)})",
                "instance-identity",
            )
        modulus = (key.key_size + 7) // 8
        if len(sig.rsa) != modulus:
            raise VerificationError(
                "signature",
                f"RSA signature of {len(sig.rsa)} bytes, the modulus is {modulus} bytes",
                "instance-identity",
            )
        chosen = HASHES[sig.hash]
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if sig.sig_alg == tpm2.TPM_ALG_RSAPSS:
            # TPMs use either the digest size or the largest salt (Part 1, B.7); accept both
            pad = padding.PSS(mgf=padding.MGF1(chosen), salt_length=padding.PSS.AUTO)
        try:
            key.verify(sig.rsa, message, pad, chosen)
        except InvalidSignature:
            raise VerificationError(
                "signature",
                f"{sig.scheme} signature does not verify with the certified AK",
                "instance-identity",
            ) from None
        return
    raise VerificationError("scheme", f"AK of type {type(key).__name__}", "instance-identity")
