"""A software attester: the TPM 2.0 quote machinery without a TPM.

It keeps what a TPM keeps: PCR banks sha256 and sha1 of 24 PCRs each (in memory, so they start
at zero like after a TPM Reset), the reset and restart counters and the safe flag (in a JSON
state file, like the TPM's non-volatile state), the clock (read from an injected callable that
returns milliseconds) and an ECDSA P-256 attestation key (a PEM file). ``quote()`` writes the
same bytes a TPM writes for TPM2_Quote with a restricted signing key, so the same verifier code
appraises both (TPM 2.0 Part 3, section 18.4). The key decides the scheme: ECDSA P-256 signs
ECDSA-SHA256 (the default, what `apmip pki device` writes), ECDSA P-384 signs ECDSA-SHA384, an
RSA key signs RSASSA-SHA256 or, with ``rsa_scheme="rsapss"``, RSAPSS-SHA256.

It offers no protection: anyone who can read the key file can forge quotes. It is the embedded
default for labs and tests, and what the documentation calls "software-rooted" evidence.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank, Quote
from apmip.errors import TpmError

log = logging.getLogger(__name__)

BANKS = ("sha256", "sha1")
_CURVES = {"secp256r1": "sha256", "secp384r1": "sha384"}
_HASHES: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}
PCR_COUNT = 24
# TPM_PT_FIRMWARE_VERSION_1/2 as one 64-bit value; "0.1.0" of this software TPM
FIRMWARE_VERSION = 0x0000_0000_0001_0000


def generate_key(path: Path) -> bytes:
    """Create an ECDSA P-256 private key PEM at ``path`` (mode 0600); returns the public PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class SoftwareAttester:
    """Implements :class:`apmip.attest.attester.Attester` in software.

    Opening it is not a boot: the counters stay as the state file has them. Call
    :meth:`power_cycle` to simulate a TPM Reset and :meth:`restart` for a TPM Restart.
    """

    def __init__(
        self,
        key_path: Path,
        state_path: Path,
        clock: Callable[[], int],
        firmware_version: int = FIRMWARE_VERSION,
        rsa_scheme: str = "rsassa",
    ) -> None:
        try:
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise TpmError(f"software attester: cannot load key {key_path}: {exc}") from exc
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name in _CURVES:
            self._key = loaded
            self.hash = _CURVES[loaded.curve.name]
            self.scheme = tpm2.TPM_ALG_ECDSA
            numbers = loaded.public_key().public_numbers()
            size = (loaded.curve.key_size + 7) // 8
            self.name = tpm2.ak_name(
                self.scheme,
                tpm2.hash_id(self.hash),
                curve=loaded.curve.name,
                x=numbers.x.to_bytes(size, "big"),
                y=numbers.y.to_bytes(size, "big"),
            )
        elif isinstance(loaded, rsa.RSAPrivateKey) and rsa_scheme in ("rsassa", "rsapss"):
            self._key = loaded
            self.hash = "sha256"
            self.scheme = tpm2.TPM_ALG_RSASSA if rsa_scheme == "rsassa" else tpm2.TPM_ALG_RSAPSS
            n = loaded.public_key().public_numbers().n
            modulus = n.to_bytes((loaded.key_size + 7) // 8, "big")
            self.name = tpm2.ak_name(self.scheme, tpm2.TPM_ALG_SHA256, modulus=modulus)
        else:
            raise TpmError(
                f"software attester: {key_path} is not an ECDSA P-256/P-384 or RSA private key "
                f"(RSA scheme {rsa_scheme!r} must be rsassa or rsapss)"
            )
        self._state_path = state_path
        self._clock = clock
        self.firmware_version = firmware_version
        self._pcrs = {
            bank: [bytes(tpm2.DIGEST_SIZES[tpm2.hash_id(bank)])] * PCR_COUNT for bank in BANKS
        }
        self.reset_count = 0
        self.restart_count = 0
        self.safe = True
        self._load_state()

    # -- non-volatile state --

    def _load_state(self) -> None:
        if not self._state_path.exists():
            self._save_state()
            return
        try:
            state = json.loads(self._state_path.read_text())
            self.reset_count = int(state["reset_count"])
            self.restart_count = int(state["restart_count"])
            self.safe = bool(state["safe"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TpmError(f"software attester: bad state file {self._state_path}: {exc}") from exc

    def _save_state(self) -> None:
        state = {
            "reset_count": self.reset_count,
            "restart_count": self.restart_count,
            "safe": self.safe,
        }
        tmp = self._state_path.with_suffix(".tmp")
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self._state_path)

    def power_cycle(self) -> None:
        """TPM Reset (Startup(CLEAR) after power loss): resetCount+1, restartCount 0, PCRs 0."""
        self.reset_count += 1
        self.restart_count = 0
        self.safe = True
        for bank, values in self._pcrs.items():
            size = tpm2.DIGEST_SIZES[tpm2.hash_id(bank)]
            values[:] = [bytes(size)] * PCR_COUNT
        self._save_state()
        log.info("software TPM reset: resetCount %d", self.reset_count)

    def restart(self) -> None:
        """TPM Restart (Startup(CLEAR) after Shutdown(STATE)): restartCount+1, PCRs kept here
        because this attester has no saved-state image to restore them from."""
        self.restart_count += 1
        self._save_state()
        log.info("software TPM restart: restartCount %d", self.restart_count)

    def mark_unsafe(self) -> None:
        """Clear the safe flag, as a TPM does when its clock may have gone back (Part 1, 36.6)."""
        self.safe = False
        self._save_state()

    # -- the Attester protocol --

    def _selection(self, selection: tuple[PcrBank, ...]) -> tuple[tpm2.PcrSelection, ...]:
        out = []
        for bank in selection:
            if bank.hash_alg not in self._pcrs:
                raise TpmError(f"software attester: no {bank.hash_alg} PCR bank (has {BANKS})")
            if any(not 0 <= p < PCR_COUNT for p in bank.pcrs):
                raise TpmError(f"software attester: PCRs {bank.pcrs} outside 0..23")
            out.append(tpm2.PcrSelection.of(bank.hash_alg, bank.pcrs))
        return tuple(out)

    def pcr_read(self, selection: tuple[PcrBank, ...]) -> dict[tuple[str, int], bytes]:
        sels = self._selection(selection)
        return {(s.bank, p): self._pcrs[s.bank][p] for s in sels for p in s.pcrs}

    def extend(self, pcr: int, digests: dict[str, bytes]) -> None:
        if not 0 <= pcr < PCR_COUNT:
            raise TpmError(f"software attester: PCR {pcr} outside 0..23")
        for bank, digest in digests.items():
            if bank not in self._pcrs:
                raise TpmError(f"software attester: no {bank} PCR bank (has {BANKS})")
            size = tpm2.DIGEST_SIZES[tpm2.hash_id(bank)]
            if len(digest) != size:
                raise TpmError(f"extend PCR {pcr} {bank}: digest {len(digest)} bytes, not {size}")
        for bank, digest in digests.items():
            values = self._pcrs[bank]
            values[pcr] = tpm2.pcr_digest(bank, (values[pcr], digest))

    def quote(self, qualifying_data: bytes, selection: tuple[PcrBank, ...]) -> Quote:
        if len(qualifying_data) > tpm2.MAX_DATA:
            raise TpmError(f"quote: qualifying data of {len(qualifying_data)} bytes > 66")
        sels = self._selection(selection)
        values = [self._pcrs[s.bank][p] for s in sels for p in s.pcrs]
        clock = int(self._clock())
        if not 0 <= clock < 1 << 64:
            raise TpmError(f"quote: clock {clock} outside the 64-bit range")
        attest = tpm2.Attest(
            magic=tpm2.TPM_GENERATED_VALUE,
            type=tpm2.TPM_ST_ATTEST_QUOTE,
            qualified_signer=self.name,
            extra_data=qualifying_data,
            clock_info=tpm2.ClockInfo(clock, self.reset_count, self.restart_count, self.safe),
            firmware_version=self.firmware_version,
            # the digest uses the signing scheme's hash (Part 3, 18.4.1)
            quote=tpm2.QuoteInfo(sels, tpm2.pcr_digest(self.hash, values)),
        ).marshal()
        return Quote(attest, self._sign(attest).marshal())

    def _sign(self, message: bytes) -> tpm2.Signature:
        chosen = _HASHES[self.hash]
        hash_id = tpm2.hash_id(self.hash)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(chosen)))
            size = (self._key.curve.key_size + 7) // 8
            # a TPM writes r and s at the full size of the curve
            return tpm2.Signature(
                self.scheme, hash_id, r=r.to_bytes(size, "big"), s=s.to_bytes(size, "big")
            )
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if self.scheme == tpm2.TPM_ALG_RSAPSS:
            # salt as long as the digest, as TPMs built for FIPS 186-4 do (Part 1, B.7)
            pad = padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size)
        return tpm2.Signature(self.scheme, hash_id, rsa=self._key.sign(message, pad, chosen))

    def ak_public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def close(self) -> None:
        """Nothing to release: state is saved on every change."""
