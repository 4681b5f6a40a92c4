"""TPM 2.0 structures carried in evidence: TPMS_ATTEST (quote), TPMT_SIGNATURE, PCR selections.

This module owns the byte layout of what TPM2_Quote returns (TPM 2.0 Library Part 2,
"Structures": sections 10.12 TPMS_ATTEST, 11.3 TPMT_SIGNATURE, 10.6 TPML_PCR_SELECTION) and
nothing else: no key handling, no policy. Parsing is strict: every count and size is bounded by
the TPM's own limits, a sub-structure must consume exactly its declared size, and trailing
bytes are an error. Every failure is an :class:`EvidenceError` that names the structure, the
field, the byte offset and the numbers.

All integers are big-endian, as the TPM marshals them (Part 1, section 18 "Data Types").
Magic and type are *not* checked by the parser: the verifier checks them after the signature,
so a structure that is well-formed but not a quote gets its own reason code ("not-a-quote").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apmip.errors import EvidenceError

# Part 2, 6.2 TPM_GENERATED and 6.9 TPM_ST
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018

# Part 2, 6.3 TPM_ALG_ID: the ones evidence may name
TPM_ALG_SHA1 = 0x0004
TPM_ALG_SHA256 = 0x000B
TPM_ALG_SHA384 = 0x000C
TPM_ALG_SHA512 = 0x000D
TPM_ALG_NULL = 0x0010
TPM_ALG_RSASSA = 0x0014
TPM_ALG_RSAPSS = 0x0016
TPM_ALG_ECDSA = 0x0018

HASH_NAMES: Mapping[int, str] = {
    TPM_ALG_SHA1: "sha1",
    TPM_ALG_SHA256: "sha256",
    TPM_ALG_SHA384: "sha384",
    TPM_ALG_SHA512: "sha512",
}
HASH_IDS: Mapping[str, int] = {name: alg for alg, name in HASH_NAMES.items()}
DIGEST_SIZES: Mapping[int, int] = {
    TPM_ALG_SHA1: 20,
    TPM_ALG_SHA256: 32,
    TPM_ALG_SHA384: 48,
    TPM_ALG_SHA512: 64,
}
SIG_NAMES: Mapping[int, str] = {
    TPM_ALG_ECDSA: "ecdsa",
    TPM_ALG_RSASSA: "rsassa",
    TPM_ALG_RSAPSS: "rsapss",
}

# bounds taken from the TPM's own limits (Part 2, 10.4 and 10.5; PC Client profile)
MAX_PCR_BANKS = 16  # HASH_COUNT is at most the number of hash algorithms; 16 is generous
MAX_SIZEOF_SELECT = 8  # 64 PCRs; PC Client TPMs implement 24 (3 bytes)
MIN_SIZEOF_SELECT = 3  # PCR_SELECT_MIN for a PC Client TPM
MAX_NAME = 2 + 64  # TPMU_NAME: an algorithm id and the largest digest
MAX_DATA = 2 + 64  # TPM2B_DATA holds at most sizeof(TPMT_HA)
MAX_DIGEST = 64
MAX_ECC_PARAMETER = 66  # P-521 coordinates are 66 bytes
MAX_RSA_KEY_BYTES = 512  # 4096-bit modulus

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
# TPMS_CLOCK_INFO (clock, resetCount, restartCount, safe) then firmwareVersion, in one read
_CLOCK_FIRMWARE = struct.Struct(">QIIBQ")


def hash_name(alg: int) -> str:
    """The hashlib name of a TPM hash algorithm id, or an EvidenceError."""
    try:
        return HASH_NAMES[alg]
    except KeyError:
        raise EvidenceError(f"hash algorithm 0x{alg:04x} is not supported") from None


def hash_id(name: str) -> int:
    """The TPM algorithm id of a hash name ("sha256" ...), or an EvidenceError."""
    try:
        return HASH_IDS[name]
    except KeyError:
        raise EvidenceError(f"hash algorithm {name!r} is not supported") from None


class Reader:
    """A cursor over a buffer that fails with the structure, field and offset it was reading.

    Field names may hold %-placeholders filled from ``args`` only when a failure is reported,
    so a loop pays nothing for naming its elements (the verifier parses on every appraisal).
    """

    def __init__(self, data: bytes, what: str) -> None:
        self.data = bytes(data)
        self.size = len(self.data)
        self.offset = 0
        self.what = what

    def fail(self, field: str, detail: str, offset: int | None = None) -> EvidenceError:
        at = self.offset if offset is None else offset
        return EvidenceError(f"{self.what}: {field} at offset {at}: {detail}")

    def _short(self, size: int, field: str, args: tuple[object, ...]) -> EvidenceError:
        left = self.size - self.offset
        name = field % args if args else field
        return self.fail(name, f"needs {size} bytes, only {left} left")

    def take(self, size: int, field: str, *args: object) -> bytes:
        start = self.offset
        end = start + size
        if end > self.size:
            raise self._short(size, field, args)
        self.offset = end
        return self.data[start:end]

    def u8(self, field: str, *args: object) -> int:
        start = self.offset
        if start >= self.size:
            raise self._short(1, field, args)
        self.offset = start + 1
        return self.data[start]

    def _unpack(self, fmt: struct.Struct, field: str, args: tuple[object, ...]) -> int:
        start = self.offset
        if start + fmt.size > self.size:
            raise self._short(fmt.size, field, args)
        self.offset = start + fmt.size
        return int(fmt.unpack_from(self.data, start)[0])

    def unpack(self, fmt: struct.Struct, field: str, *args: object) -> tuple[Any, ...]:
        """Several fixed-size fields at once."""
        start = self.offset
        if start + fmt.size > self.size:
            raise self._short(fmt.size, field, args)
        self.offset = start + fmt.size
        return fmt.unpack_from(self.data, start)

    def u16(self, field: str, *args: object) -> int:
        return self._unpack(_U16, field, args)

    def u32(self, field: str, *args: object) -> int:
        return self._unpack(_U32, field, args)

    def u64(self, field: str, *args: object) -> int:
        return self._unpack(_U64, field, args)

    def tpm2b(self, field: str, maximum: int, *args: object) -> bytes:
        """A TPM2B: a 16-bit size then that many bytes, the size bounded by ``maximum``."""
        at = self.offset
        size = self.u16(field + ".size", *args)
        if size > maximum:
            name = (field % args if args else field) + ".size"
            raise self.fail(name, f"{size} exceeds the maximum {maximum}", at)
        return self.take(size, field + ".buffer", *args)

    def end(self) -> None:
        left = self.size - self.offset
        if left:
            raise self.fail("end", f"{left} trailing bytes after a {self.offset}-byte structure")


def _tpm2b(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data


# -- PCR selections (Part 2, 10.6.2 TPMS_PCR_SELECTION and 10.9.7 TPML_PCR_SELECTION) --


@dataclass(frozen=True)
class PcrSelection:
    """The PCRs selected in one bank; ``pcrs`` ascending, as the bitmap orders them."""

    hash_alg: int
    pcrs: tuple[int, ...]
    size_of_select: int = MIN_SIZEOF_SELECT

    def __post_init__(self) -> None:
        if self.hash_alg not in HASH_NAMES:
            raise EvidenceError(f"PCR selection: hash algorithm 0x{self.hash_alg:04x} unknown")
        if not MIN_SIZEOF_SELECT <= self.size_of_select <= MAX_SIZEOF_SELECT:
            raise EvidenceError(
                f"PCR selection: sizeofSelect {self.size_of_select} outside "
                f"{MIN_SIZEOF_SELECT}..{MAX_SIZEOF_SELECT}"
            )
        limit = 8 * self.size_of_select
        if list(self.pcrs) != sorted(set(self.pcrs)):
            raise EvidenceError(f"PCR selection: PCRs {self.pcrs} not ascending and unique")
        if any(not 0 <= p < limit for p in self.pcrs):
            raise EvidenceError(f"PCR selection: PCRs {self.pcrs} outside 0..{limit - 1}")

    @property
    def bank(self) -> str:
        return HASH_NAMES[self.hash_alg]

    def bitmap(self) -> bytes:
        """pcrSelect: bit (i mod 8) of octet (i div 8) selects PCR i (Part 2, 10.6.1)."""
        octets = bytearray(self.size_of_select)
        for pcr in self.pcrs:
            octets[pcr // 8] |= 1 << (pcr % 8)
        return bytes(octets)

    @classmethod
    def of(cls, bank: str, pcrs: Iterable[int]) -> PcrSelection:
        """A selection for a bank named by hash ("sha256") with the smallest bitmap size."""
        ordered = tuple(sorted(set(pcrs)))
        size = max(MIN_SIZEOF_SELECT, (max(ordered, default=0) // 8) + 1)
        return cls(hash_id(bank), ordered, size)


def marshal_pcr_selections(selections: tuple[PcrSelection, ...]) -> bytes:
    """TPML_PCR_SELECTION: a 32-bit count then each TPMS_PCR_SELECTION."""
    out = [_U32.pack(len(selections))]
    for sel in selections:
        out.append(_U16.pack(sel.hash_alg) + _U8.pack(sel.size_of_select) + sel.bitmap())
    return b"".join(out)


def _read_pcr_selections(reader: Reader, field: str) -> tuple[PcrSelection, ...]:
    at = reader.offset
    count = reader.u32(f"{field}.count")
    if count > MAX_PCR_BANKS:
        raise reader.fail(
            f"{field}.count", f"{count} banks exceeds the maximum {MAX_PCR_BANKS}", at
        )
    selections = []
    for i in range(count):
        name = f"{field}.pcrSelections[{i}]"
        at = reader.offset
        alg = reader.u16(f"{name}.hash")
        if alg not in HASH_NAMES:
            raise reader.fail(f"{name}.hash", f"hash algorithm 0x{alg:04x} is not supported", at)
        at = reader.offset
        size = reader.u8(f"{name}.sizeofSelect")
        if not MIN_SIZEOF_SELECT <= size <= MAX_SIZEOF_SELECT:
            raise reader.fail(
                f"{name}.sizeofSelect",
                f"{size} outside {MIN_SIZEOF_SELECT}..{MAX_SIZEOF_SELECT}",
                at,
            )
        bitmap = reader.take(size, f"{name}.pcrSelect")
        pcrs = tuple(
            i * 8 + b for i, octet in enumerate(bitmap) for b in range(8) if octet >> b & 1
        )
        selections.append(PcrSelection(alg, pcrs, size))
    return tuple(selections)


_SELECTIONS: dict[bytes, tuple[PcrSelection, ...]] = {}


def _cached_selections(reader: Reader, field: str) -> tuple[PcrSelection, ...]:
    """A quote's selection is the same in every quote of a peer: reuse the parsed (immutable)
    result for identical bytes, parsing only what was not seen before."""
    start = reader.offset
    selections = _read_pcr_selections(reader, field) if not _SELECTIONS else None
    if selections is None:
        # the length of a TPML_PCR_SELECTION is known only by walking it; keys hold it whole
        for raw, parsed in _SELECTIONS.items():
            if reader.data.startswith(raw, start):
                reader.offset = start + len(raw)
                return parsed
        selections = _read_pcr_selections(reader, field)
    if len(_SELECTIONS) < 64:
        _SELECTIONS[reader.data[start : reader.offset]] = selections
    return selections


def parse_pcr_selections(data: bytes) -> tuple[PcrSelection, ...]:
    """Parse a whole TPML_PCR_SELECTION (as tpm2_quote's --pcr-list output ends with)."""
    reader = Reader(data, "TPML_PCR_SELECTION")
    selections = _read_pcr_selections(reader, "pcrSelect")
    reader.end()
    return selections


def pcr_digest(hash_alg: str, values: Iterable[bytes]) -> bytes:
    """pcrDigest of TPM2_Quote: the hash over the selected PCR values concatenated in
    selection order (banks as listed, PCRs ascending; Part 3, 18.4 TPM2_Quote)."""
    h = hashlib.new(hash_alg)
    for value in values:
        h.update(value)
    return h.digest()


# -- TPMS_ATTEST (Part 2, 10.12.8) with TPMS_CLOCK_INFO (10.11.1) and TPMS_QUOTE_INFO (10.12.4) --


@dataclass(frozen=True)
class ClockInfo:
    """TPMS_CLOCK_INFO: milliseconds of TPM clock, reset and restart counters, safe flag."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass(frozen=True)
class QuoteInfo:
    """TPMS_QUOTE_INFO: which PCRs were quoted and the digest over their values."""

    pcr_select: tuple[PcrSelection, ...]
    pcr_digest: bytes


@dataclass(frozen=True)
class Attest:
    """TPMS_ATTEST. ``quote`` is set when ``type`` is TPM_ST_ATTEST_QUOTE; for any other type
    the attested union is kept undecoded in ``attested_raw`` (the verifier refuses it)."""

    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    quote: QuoteInfo | None
    attested_raw: bytes = b""

    def __post_init__(self) -> None:
        if len(self.qualified_signer) > MAX_NAME:
            raise EvidenceError(f"TPMS_ATTEST: qualifiedSigner {len(self.qualified_signer)} bytes")
        if len(self.extra_data) > MAX_DATA:
            raise EvidenceError(
                f"TPMS_ATTEST: extraData {len(self.extra_data)} bytes > {MAX_DATA}"
            )
        if (self.type == TPM_ST_ATTEST_QUOTE) != (self.quote is not None):
            raise EvidenceError(f"TPMS_ATTEST: type 0x{self.type:04x} and quote info disagree")

    def marshal(self) -> bytes:
        ci = self.clock_info
        out = [
            _U32.pack(self.magic),
            _U16.pack(self.type),
            _tpm2b(self.qualified_signer),
            _tpm2b(self.extra_data),
            _U64.pack(ci.clock),
            _U32.pack(ci.reset_count),
            _U32.pack(ci.restart_count),
            _U8.pack(1 if ci.safe else 0),
            _U64.pack(self.firmware_version),
        ]
        if self.quote is not None:
            out.append(marshal_pcr_selections(self.quote.pcr_select))
            out.append(_tpm2b(self.quote.pcr_digest))
        else:
            out.append(self.attested_raw)
        return b"".join(out)


def parse_attest(data: bytes) -> Attest:
    """Strictly parse a marshalled TPMS_ATTEST; no trailing bytes allowed."""
    r = Reader(data, "TPMS_ATTEST")
    magic = r.u32("magic")
    st = r.u16("type")
    signer = r.tpm2b("qualifiedSigner", MAX_NAME)
    extra = r.tpm2b("extraData", MAX_DATA)
    at = r.offset
    clock, reset, restart, safe, firmware = r.unpack(
        _CLOCK_FIRMWARE, "clockInfo and firmwareVersion"
    )
    if safe > 1:
        raise r.fail("clockInfo.safe", f"TPMI_YES_NO must be 0 or 1, found {safe}", at + 16)
    clock_info = ClockInfo(clock, reset, restart, bool(safe))
    if st != TPM_ST_ATTEST_QUOTE:
        rest = r.take(len(data) - r.offset, "attested")
        return Attest(magic, st, signer, extra, clock_info, firmware, None, rest)
    selections = _cached_selections(r, "attested.quote.pcrSelect")
    digest = r.tpm2b("attested.quote.pcrDigest", MAX_DIGEST)
    r.end()
    return Attest(magic, st, signer, extra, clock_info, firmware, QuoteInfo(selections, digest))


# -- TPMT_SIGNATURE (Part 2, 11.3.4) for ECDSA (11.3.2) and RSASSA / RSAPSS (11.3.1) --


@dataclass(frozen=True)
class Signature:
    """TPMT_SIGNATURE. ECDSA keeps r and s as the TPM wrote them (big-endian, possibly
    zero-padded); RSA schemes keep the signature octets in ``rsa``."""

    sig_alg: int
    hash_alg: int
    r: bytes = b""
    s: bytes = b""
    rsa: bytes = b""

    def __post_init__(self) -> None:
        if self.sig_alg not in SIG_NAMES:
            raise EvidenceError(f"TPMT_SIGNATURE: sigAlg 0x{self.sig_alg:04x} is not supported")
        if self.hash_alg not in HASH_NAMES:
            raise EvidenceError(f"TPMT_SIGNATURE: hash 0x{self.hash_alg:04x} is not supported")

    @property
    def scheme(self) -> str:
        return SIG_NAMES[self.sig_alg]

    @property
    def hash(self) -> str:
        return HASH_NAMES[self.hash_alg]

    def marshal(self) -> bytes:
        head = _U16.pack(self.sig_alg) + _U16.pack(self.hash_alg)
        if self.sig_alg == TPM_ALG_ECDSA:
            return head + _tpm2b(self.r) + _tpm2b(self.s)
        return head + _tpm2b(self.rsa)


def parse_signature(data: bytes) -> Signature:
    """Strictly parse a marshalled TPMT_SIGNATURE of a supported scheme."""
    r = Reader(data, "TPMT_SIGNATURE")
    alg = r.u16("sigAlg")
    if alg not in SIG_NAMES:
        raise r.fail("sigAlg", f"scheme 0x{alg:04x} is not ECDSA, RSASSA or RSAPSS", 0)
    hash_alg = r.u16("signature.hash")
    if hash_alg not in HASH_NAMES:
        raise r.fail("signature.hash", f"hash 0x{hash_alg:04x} is not supported", 2)
    if alg == TPM_ALG_ECDSA:
        sig_r = r.tpm2b("signature.signatureR", MAX_ECC_PARAMETER)
        sig_s = r.tpm2b("signature.signatureS", MAX_ECC_PARAMETER)
        r.end()
        return Signature(alg, hash_alg, r=sig_r, s=sig_s)
    rsa = r.tpm2b("signature.sig", MAX_RSA_KEY_BYTES)
    r.end()
    return Signature(alg, hash_alg, rsa=rsa)


# -- TPMT_PUBLIC of a signing key, only to compute its TPM Name (Part 1, 16 "Names") --

TPM_ALG_RSA = 0x0001
TPM_ALG_ECC = 0x0023
ECC_CURVES = {"secp256r1": 0x0003, "secp384r1": 0x0004}  # TPM_ECC_NIST_P256 / _P384
# fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign (Part 2, 8.3)
AK_ATTRIBUTES = 0x00050072


def ak_name(
    scheme: int,
    hash_alg: int,
    *,
    curve: str = "",
    x: bytes = b"",
    y: bytes = b"",
    modulus: bytes = b"",
) -> bytes:
    """The Name of a restricted signing key: nameAlg || SHA-256(TPMT_PUBLIC) (Part 2, 12.2.4).

    ECC keys give ``curve``, ``x`` and ``y``; RSA keys give the ``modulus`` (exponent 65537).
    """
    head = _U16.pack(TPM_ALG_ECC if curve else TPM_ALG_RSA) + _U16.pack(TPM_ALG_SHA256)
    head += _U32.pack(AK_ATTRIBUTES) + _tpm2b(b"")  # no authPolicy
    params = _U16.pack(TPM_ALG_NULL) + _U16.pack(scheme) + _U16.pack(hash_alg)
    if curve:
        params += _U16.pack(ECC_CURVES[curve]) + _U16.pack(TPM_ALG_NULL)  # no kdf
        unique = _tpm2b(x) + _tpm2b(y)
    else:
        params += _U16.pack(8 * len(modulus)) + _U32.pack(0)  # exponent 0 means 2^16 + 1
        unique = _tpm2b(modulus)
    return _U16.pack(TPM_ALG_SHA256) + hashlib.sha256(head + params + unique).digest()
