"""Evidence: what one attester sends to one verifier, as bytes.

Layout (all integers big-endian), version 1::

    version          u8     = 1
    attest           u16 length, then the marshalled TPMS_ATTEST
    signature        u16 length, then the marshalled TPMT_SIGNATURE
    ak_cert_digest   32     SHA-256 of the attestation-key certificate's DER
    pcr_count        u8     then per PCR: hash alg id u16, index u8, value (digest size)
    extra_count      u8     then per extra: type u8, u16 length, data

Extra type 1 carries event hints (see :mod:`apmip.attest.events`); unknown extra types are
kept undecoded so a newer sender's evidence still parses and round-trips.

Identity travels by reference: only the certificate's digest is sent, the certificates are
provisioned to the verifier in advance (docs/attestation.md, "Evidence by reference"). With
8 SHA-256 PCRs and no hints this is about 530 bytes; each hint adds 9.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from apmip.attest import tpm2
from apmip.attest.events import EventHint, decode_hints, encode_hints
from apmip.errors import EvidenceError

VERSION = 1
MAX_QUOTE_PART = 1024
MAX_PCR_VALUES = 96  # four banks of 24
MAX_EXTRAS = 8
MAX_EXTRA = 4096
EXTRA_HINTS = 1
_PCR_HEAD = struct.Struct(">HB")
_SIZE_BY_BANK = {tpm2.HASH_NAMES[alg]: size for alg, size in tpm2.DIGEST_SIZES.items()}


@dataclass(frozen=True)
class PcrValue:
    """One PCR's value as the attester read it."""

    bank: str
    index: int
    value: bytes

    def __post_init__(self) -> None:
        size = _SIZE_BY_BANK.get(self.bank)
        if size is None or len(self.value) != size or not 0 <= self.index <= 255:
            raise EvidenceError(
                f"PCR value {self.bank}:{self.index}: {len(self.value)} bytes; expected a "
                f"bank of {sorted(_SIZE_BY_BANK)}, its digest size and an index 0..255"
            )


@dataclass(frozen=True)
class Evidence:
    """A quote, the certified key it is signed with (by digest), the PCR values, extras."""

    attest: bytes
    signature: bytes
    ak_cert_digest: bytes
    pcr_values: tuple[PcrValue, ...]
    hints: tuple[EventHint, ...] = ()
    extras: tuple[tuple[int, bytes], ...] = field(default=())

    def __post_init__(self) -> None:
        for name, part in (("attest", self.attest), ("signature", self.signature)):
            if not 0 < len(part) <= MAX_QUOTE_PART:
                raise EvidenceError(f"evidence: {name} of {len(part)} bytes (1..{MAX_QUOTE_PART})")
        if len(self.ak_cert_digest) != 32:
            raise EvidenceError(
                f"evidence: ak_cert_digest of {len(self.ak_cert_digest)} bytes, expected 32"
            )
        if len(self.pcr_values) > MAX_PCR_VALUES:
            raise EvidenceError(f"evidence: {len(self.pcr_values)} PCR values > {MAX_PCR_VALUES}")
        extra_count = len(self.extras) + (1 if self.hints else 0)
        if extra_count > MAX_EXTRAS:
            raise EvidenceError(f"evidence: {extra_count} extras > {MAX_EXTRAS}")
        for kind, data in self.extras:
            if kind == EXTRA_HINTS or not 0 < kind <= 255 or len(data) > MAX_EXTRA:
                raise EvidenceError(f"evidence: extra type {kind} with {len(data)} bytes refused")

    def to_bytes(self) -> bytes:
        out = [struct.pack(">B", VERSION)]
        out.append(struct.pack(">H", len(self.attest)) + self.attest)
        out.append(struct.pack(">H", len(self.signature)) + self.signature)
        out.append(self.ak_cert_digest)
        out.append(struct.pack(">B", len(self.pcr_values)))
        for pv in self.pcr_values:
            out.append(struct.pack(">HB", tpm2.hash_id(pv.bank), pv.index) + pv.value)
        extras = list(self.extras)
        if self.hints:
            extras.insert(0, (EXTRA_HINTS, encode_hints(self.hints)))
        out.append(struct.pack(">B", len(extras)))
        for kind, data in extras:
            out.append(struct.pack(">BH", kind, len(data)) + data)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Evidence:
        r = tpm2.Reader(data, "evidence")
        version = r.u8("version")
        if version != VERSION:
            raise r.fail("version", f"{version} is not the supported version {VERSION}", 0)
        attest = r.tpm2b("attest", MAX_QUOTE_PART)
        signature = r.tpm2b("signature", MAX_QUOTE_PART)
        digest = r.take(32, "ak_cert_digest")
        at = r.offset
        count = r.u8("pcr_count")
        if count > MAX_PCR_VALUES:
            raise r.fail("pcr_count", f"{count} exceeds the maximum {MAX_PCR_VALUES}", at)
        values = []
        for i in range(count):
            at = r.offset
            alg, index = r.unpack(_PCR_HEAD, "pcr[%d].hash/index", i)
            size = tpm2.DIGEST_SIZES.get(alg)
            if size is None:
                raise r.fail(f"pcr[{i}].hash", f"hash algorithm 0x{alg:04x} unknown", at)
            values.append(PcrValue(tpm2.HASH_NAMES[alg], index, r.take(size, "pcr[%d].value", i)))
        at = r.offset
        count = r.u8("extra_count")
        if count > MAX_EXTRAS:
            raise r.fail("extra_count", f"{count} exceeds the maximum {MAX_EXTRAS}", at)
        hints: tuple[EventHint, ...] = ()
        extras = []
        for i in range(count):
            kind = r.u8("extra[%d].type", i)
            at = r.offset + 2
            body = r.tpm2b("extra[%d]", MAX_EXTRA, i)
            if kind == EXTRA_HINTS:
                if hints:
                    raise r.fail(f"extra[{i}].type", "event hints appear twice", at - 3)
                hints = decode_hints(body, at)
            elif kind == 0:
                raise r.fail(f"extra[{i}].type", "type 0 is reserved", at - 3)
            else:
                extras.append((kind, body))
        r.end()
        return cls(attest, signature, digest, tuple(values), hints, tuple(extras))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready view for `apmip decode`; parse failures show as an error entry."""
        out: dict[str, Any] = {
            "ak_cert_digest": self.ak_cert_digest.hex(),
            "pcrs": [
                {"bank": v.bank, "index": v.index, "value": v.value.hex()} for v in self.pcr_values
            ],
            "hints": [
                {"pcr": h.pcr, "tag": h.tag.hex(), "digest_prefix": h.prefix.hex()}
                for h in self.hints
            ],
            "extras": [{"type": k, "length": len(d)} for k, d in self.extras],
            "size": len(self.to_bytes()),
        }
        try:
            out["attest"] = describe_attest(tpm2.parse_attest(self.attest))
        except EvidenceError as exc:
            out["attest"] = {"error": str(exc), "hex": self.attest.hex()}
        try:
            out["signature"] = describe_signature(tpm2.parse_signature(self.signature))
        except EvidenceError as exc:
            out["signature"] = {"error": str(exc), "hex": self.signature.hex()}
        return out


def describe_attest(attest: tpm2.Attest) -> dict[str, Any]:
    ci = attest.clock_info
    out: dict[str, Any] = {
        "magic": f"0x{attest.magic:08x}",
        "type": f"0x{attest.type:04x}",
        "qualified_signer": attest.qualified_signer.hex(),
        "extra_data": attest.extra_data.hex(),
        "clock": ci.clock,
        "reset_count": ci.reset_count,
        "restart_count": ci.restart_count,
        "safe": ci.safe,
        "firmware_version": f"0x{attest.firmware_version:016x}",
    }
    if attest.quote is not None:
        out["pcr_select"] = [
            {"bank": s.bank, "pcrs": list(s.pcrs)} for s in attest.quote.pcr_select
        ]
        out["pcr_digest"] = attest.quote.pcr_digest.hex()
    return out


def describe_signature(sig: tpm2.Signature) -> dict[str, Any]:
    out: dict[str, Any] = {"scheme": sig.scheme, "hash": sig.hash}
    if sig.r or sig.s:
        out["r"] = sig.r.hex()
        out["s"] = sig.s.hex()
    else:
        out["sig"] = sig.rsa.hex()
    return out
