"""Reading (and writing) the files `tpm2_quote` produces, so any TPM's quote can be appraised.

`tpm2_quote -m MSG -s SIG -o PCRS` (tpm2-tools 5.x) writes:

* MSG: the marshalled TPMS_ATTEST, exactly as the TPM returned it (big-endian TPM format);
* SIG with ``-f tss`` (the default): the marshalled TPMT_SIGNATURE; with ``-f plain``: an
  ECDSA signature as DER ECDSA-Sig-Value (r, s), an RSA signature as its raw octets, without
  the scheme or hash, which must then be given;
* PCRS with ``-F values``: the selected PCR values concatenated in selection order; with
  ``-F serialized`` (what 5.4 writes without ``-F``): tpm2-tools' in-memory structures as
  little-endian bytes: a TPML_PCR_SELECTION of 16 fixed 8-byte slots (132 bytes), a 32-bit
  count of digest lists, then per list a 32-bit count and 8 fixed TPM2B_DIGEST slots of 66
  bytes (2-byte size, 64-byte buffer).

:func:`write_outputs` writes the same three files from a software attester's quote, which
gives the verifier CLI something to check without a TPM.
"""

from __future__ import annotations

import struct
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank, Quote
from apmip.attest.evidence import PcrValue
from apmip.errors import EvidenceError

SERIALIZED_SELECTION = 4 + 16 * 8
DIGEST_SLOT = 2 + 64
DIGEST_LIST = 4 + 8 * DIGEST_SLOT


def parse_pcr_list(text: str) -> tuple[PcrBank, ...]:
    """The tpm2-tools selection syntax: ``sha256:0,1,2+sha1:4`` (``all`` for 0..23)."""
    banks = []
    for part in text.split("+"):
        bank, _, pcrs = part.strip().partition(":")
        if bank not in tpm2.HASH_IDS or not pcrs:
            raise EvidenceError(f"PCR list {text!r}: {part!r} is not BANK:PCR,PCR...")
        try:
            indices = range(24) if pcrs == "all" else [int(p) for p in pcrs.split(",")]
        except ValueError:
            raise EvidenceError(f"PCR list {text!r}: {pcrs!r} is not a list of numbers") from None
        if any(not 0 <= p <= 23 for p in indices):
            raise EvidenceError(f"PCR list {text!r}: PCRs must be 0..23")
        banks.append(PcrBank(bank, tuple(sorted(set(indices)))))
    return tuple(banks)


def _wanted(selection: tuple[tpm2.PcrSelection, ...]) -> list[tuple[str, int, int]]:
    return [(s.bank, p, tpm2.DIGEST_SIZES[s.hash_alg]) for s in selection for p in s.pcrs]


def read_pcrs(
    data: bytes, selection: tuple[tpm2.PcrSelection, ...], fmt: str = "auto"
) -> tuple[PcrValue, ...]:
    """PCR values from a `tpm2_quote -o` file, for the quote's own ``selection``."""
    wanted = _wanted(selection)
    if fmt == "auto":
        fmt = "values" if len(data) == sum(size for _, _, size in wanted) else "serialized"
    if fmt == "values":
        if len(data) != sum(size for _, _, size in wanted):
            raise EvidenceError(
                f"PCR values file: {len(data)} bytes, the quote's selection needs "
                f"{sum(size for _, _, size in wanted)}"
            )
        out, at = [], 0
        for bank, index, size in wanted:
            out.append(PcrValue(bank, index, data[at : at + size]))
            at += size
        return tuple(out)
    if fmt != "serialized":
        raise EvidenceError(f"PCR file format {fmt!r} is not values, serialized or auto")
    return _read_serialized(data, selection, wanted)


def _read_serialized(
    data: bytes, selection: tuple[tpm2.PcrSelection, ...], wanted: list[tuple[str, int, int]]
) -> tuple[PcrValue, ...]:
    r = tpm2.Reader(data, "serialized PCR file")
    (count,) = struct.unpack("<I", r.take(4, "pcrSelections.count"))
    if count > 16:
        raise r.fail("pcrSelections.count", f"{count} exceeds 16", 0)
    found = []
    for i in range(16):
        alg, size = struct.unpack("<HB", r.take(3, f"pcrSelections[{i}]"))
        bitmap = r.take(5, f"pcrSelections[{i}].pcrSelect")[:4]
        if i < count:
            if size > 4 or alg not in tpm2.HASH_NAMES:
                raise r.fail(f"pcrSelections[{i}]", f"hash 0x{alg:04x} size {size}", 4 + 8 * i)
            pcrs = tuple(j * 8 + b for j in range(size) for b in range(8) if bitmap[j] >> b & 1)
            found.append((tpm2.HASH_NAMES[alg], pcrs))
    quoted = [(s.bank, s.pcrs) for s in selection]
    if found != quoted:
        raise EvidenceError(f"serialized PCR file selects {found}, the quote selects {quoted}")
    (lists,) = struct.unpack("<I", r.take(4, "count"))
    if lists > 8:
        raise r.fail("count", f"{lists} digest lists exceeds 8", SERIALIZED_SELECTION)
    digests = []
    for i in range(lists):
        (n,) = struct.unpack("<I", r.take(4, f"pcr_values[{i}].count"))
        if n > 8:
            raise r.fail(f"pcr_values[{i}].count", f"{n} exceeds 8")
        for j in range(8):
            (size,) = struct.unpack("<H", r.take(2, f"pcr_values[{i}].digests[{j}].size"))
            buffer = r.take(64, f"pcr_values[{i}].digests[{j}].buffer")
            if j < n:
                digests.append(buffer[:size])
    r.end()
    if len(digests) != len(wanted):
        raise EvidenceError(
            f"serialized PCR file: {len(digests)} values, the selection needs {len(wanted)}"
        )
    return tuple(
        PcrValue(bank, index, d) for (bank, index, _), d in zip(wanted, digests, strict=True)
    )


def read_signature(
    data: bytes, key: object, fmt: str = "auto", scheme: str = "rsassa", hash_alg: str = "sha256"
) -> tpm2.Signature:
    """A TPMT_SIGNATURE from a `tpm2_quote -s` file in tss or plain format."""
    if fmt in ("auto", "tss"):
        try:
            return tpm2.parse_signature(data)
        except EvidenceError:
            if fmt == "tss":
                raise
    if fmt not in ("auto", "plain"):
        raise EvidenceError(f"signature format {fmt!r} is not tss, plain or auto")
    hash_id = tpm2.hash_id(hash_alg)
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            r, s = decode_dss_signature(data)
        except ValueError as exc:
            raise EvidenceError(f"plain ECDSA signature is not DER (r, s): {exc}") from exc
        size = (key.curve.key_size + 7) // 8
        if r.bit_length() > 8 * size or s.bit_length() > 8 * size:
            raise EvidenceError(f"plain ECDSA signature: r or s longer than {size} bytes")
        return tpm2.Signature(
            tpm2.TPM_ALG_ECDSA, hash_id, r=r.to_bytes(size, "big"), s=s.to_bytes(size, "big")
        )
    if isinstance(key, rsa.RSAPublicKey):
        alg = {"rsassa": tpm2.TPM_ALG_RSASSA, "rsapss": tpm2.TPM_ALG_RSAPSS}.get(scheme)
        if alg is None:
            raise EvidenceError(f"RSA scheme {scheme!r} is not rsassa or rsapss")
        return tpm2.Signature(alg, hash_id, rsa=data)
    raise EvidenceError(f"key type {type(key).__name__} is neither ECDSA nor RSA")


def write_outputs(
    quote: Quote, values: tuple[PcrValue, ...], message: Path, signature: Path, pcrs: Path
) -> None:
    """Write a quote as `tpm2_quote -m -s -o -F values -f tss` would."""
    message.write_bytes(quote.attest)
    signature.write_bytes(quote.signature)
    pcrs.write_bytes(b"".join(v.value for v in values))
