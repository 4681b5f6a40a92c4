"""What every attester offers: the contract between the protocol and a TPM.

An attester is the local root of trust for reporting. The real one drives a TPM 2.0 through
tpm2-pytss; the software one keeps the same state (PCR banks, clock, counters, an attestation
key) in memory and on disk and produces byte-identical TPM 2.0 structures. The protocol core
only ever sees this interface, so it never touches the device, the clock or the random source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PcrBank:
    """One PCR bank and the PCR indices selected in it (TPMS_PCR_SELECTION)."""

    hash_alg: str  # "sha256", "sha1", "sha384"
    pcrs: tuple[int, ...]


@dataclass(frozen=True)
class Quote:
    """A TPM2_Quote answer: the marshalled TPMS_ATTEST and TPMT_SIGNATURE as written."""

    attest: bytes
    signature: bytes


class Attester(Protocol):
    """The operations the daemons need from a TPM."""

    def quote(self, qualifying_data: bytes, selection: tuple[PcrBank, ...]) -> Quote:
        """Sign the selected PCRs and the clock with the attestation key over qualifying_data."""
        ...

    def pcr_read(self, selection: tuple[PcrBank, ...]) -> dict[tuple[str, int], bytes]:
        """Current values of the selected PCRs, keyed by (bank, index)."""
        ...

    def extend(self, pcr: int, digests: dict[str, bytes]) -> None:
        """Extend one PCR in each bank named in digests (TPM2_PCR_Extend)."""
        ...

    def ak_public_pem(self) -> bytes:
        """The attestation key's public part, PEM SubjectPublicKeyInfo."""
        ...

    def close(self) -> None:
        """Release the device or files the attester holds."""
        ...
