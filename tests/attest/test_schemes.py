"""Signature schemes: ECDSA P-256/P-384, RSASSA and RSA-PSS through the same verifier."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apmip.attest import pki, tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.boot import simulate_boot
from apmip.attest.evidence import Evidence
from apmip.attest.local import LocalEvidence
from apmip.attest.refvals import ReferenceValues
from apmip.attest.result import Policy
from apmip.attest.software import SoftwareAttester
from apmip.attest.trust import TrustStore
from apmip.attest.verifier import Verifier

from .conftest import CONTEXT, NONCE, NOW, Clock

SELECTION = (PcrBank("sha256", (0, 4, 9)),)
_RSA_KEY = rsa.generate_private_key(65537, 2048)  # one key for the module: generation is slow


def _setup(tmp_path: Path, key: object, rsa_scheme: str = "rsassa") -> tuple[bytes, Verifier]:
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ak.pem").write_bytes(pem)
    os.chmod(tmp_path / "ak.pem", 0o600)
    pki.init_ca(tmp_path / "pki", NOW)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    paths = pki.issue_device(tmp_path / "pki", "dev", "DEV-1", NOW, ak_public_pem=public)
    attester = SoftwareAttester(
        tmp_path / "ak.pem", tmp_path / "state.json", Clock(), rsa_scheme=rsa_scheme
    )
    events = simulate_boot(attester)
    ak_der = pki.load_cert(paths.ak_cert).public_bytes(serialization.Encoding.DER)
    local = LocalEvidence(attester, ak_der, SELECTION, events)
    refs = ReferenceValues.record(attester, SELECTION, events, name="ref", replay_pcrs=())
    trust = TrustStore.from_pki_dir(tmp_path / "pki")
    return local.produce(NONCE, CONTEXT), Verifier(trust, refs, Policy(), SELECTION)


@pytest.mark.parametrize(
    ("key", "scheme", "sig_head"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "rsassa", "0018000b0020"),
        (ec.generate_private_key(ec.SECP384R1()), "rsassa", "0018000c0030"),
        (_RSA_KEY, "rsassa", "0014000b0100"),
        (_RSA_KEY, "rsapss", "0016000b0100"),
    ],
    ids=["ecdsa-p256", "ecdsa-p384", "rsassa-2048", "rsapss-2048"],
)
def test_each_scheme_verifies_and_a_flip_does_not(
    tmp_path: Path, key: object, scheme: str, sig_head: str
) -> None:
    data, verifier = _setup(tmp_path, key, scheme)
    evidence = Evidence.from_bytes(data)
    assert evidence.signature[:6].hex() == sig_head
    result = verifier.appraise(data, NONCE, CONTEXT)
    assert (result.verdict, result.reason) == ("accept", "ok")
    flipped = bytearray(evidence.signature)
    flipped[-1] ^= 1
    bad = dataclasses.replace(evidence, signature=bytes(flipped)).to_bytes()
    assert verifier.appraise(bad, NONCE, CONTEXT).reason == "signature"


def test_rsa_signature_must_be_modulus_size(tmp_path: Path) -> None:
    data, verifier = _setup(tmp_path, _RSA_KEY)
    evidence = Evidence.from_bytes(data)
    sig = tpm2.parse_signature(evidence.signature)
    short = dataclasses.replace(sig, rsa=sig.rsa[1:]).marshal()
    result = verifier.appraise(
        dataclasses.replace(evidence, signature=short).to_bytes(), NONCE, CONTEXT
    )
    assert (result.reason, result.aspect) == ("signature", "instance-identity")
    assert result.message == "RSA signature of 255 bytes, the modulus is 256 bytes"
    padded = dataclasses.replace(sig, rsa=b"\x00" + sig.rsa).marshal()
    result = verifier.appraise(
        dataclasses.replace(evidence, signature=padded).to_bytes(), NONCE, CONTEXT
    )
    assert result.message == "RSA signature of 257 bytes, the modulus is 256 bytes"


def test_scheme_the_key_does_not_allow_is_refused(tmp_path: Path) -> None:
    data, verifier = _setup(tmp_path, _RSA_KEY)
    evidence = Evidence.from_bytes(data)
    ecdsa = tpm2.Signature(0x0018, 0x000B, r=b"\x01" * 32, s=b"\x02" * 32).marshal()
    result = verifier.appraise(
        dataclasses.replace(evidence, signature=ecdsa).to_bytes(), NONCE, CONTEXT
    )
    assert (result.reason, result.aspect) == ("scheme", "instance-identity")
    sha1 = dataclasses.replace(tpm2.parse_signature(evidence.signature), hash_alg=0x0004)
    result = verifier.appraise(
        dataclasses.replace(evidence, signature=sha1.marshal()).to_bytes(), NONCE, CONTEXT
    )
    assert result.reason == "scheme"
    assert result.message.startswith("rsassa-sha1 signature for an RSA key")


def test_p256_key_refuses_sha384(tmp_path: Path) -> None:
    data, verifier = _setup(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    evidence = Evidence.from_bytes(data)
    sig = dataclasses.replace(tpm2.parse_signature(evidence.signature), hash_alg=0x000C)
    result = verifier.appraise(
        dataclasses.replace(evidence, signature=sig.marshal()).to_bytes(), NONCE, CONTEXT
    )
    assert (result.reason, result.message) == (
        "scheme",
        "ecdsa-sha384 signature for an ECDSA secp256r1 key (allowed: ecdsa-sha256)",
    )
