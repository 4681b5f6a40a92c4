"""The TPM device adapter: the Attester protocol on a real TPM 2.0 through tpm2-pytss (ESAPI).

The attestation key (AK) is a *primary* key in the endorsement hierarchy: a restricted ECDSA
signing key created with TPM2_CreatePrimary from a fixed template. Two properties follow.

- A primary key is derived from the hierarchy's seed and the template (TPM 2.0 Part 1,
  "Primary Keys"), so creating it again after a reboot yields the same key: the AK certificate
  stays valid without a saved blob. Optionally it is made persistent with TPM2_EvictControl.
- TPM2_Quote reports the clock, resetCount, restartCount and firmwareVersion in clear only for
  keys of the endorsement (or platform) hierarchy; for owner-hierarchy keys the TPM adds a
  per-key obfuscation value to the counters and the firmware version (Part 2,
  TPMS_ATTEST). apmip's verifier needs the real counters to recognise a reboot or a TPM restart.

A TPM without a resource manager (swtpm, or /dev/tpm0 without tpm2-abrmd) has three transient
object slots and three session slots shared by everyone: this adapter keeps at most one
transient object loaded (the AK), uses password authorisation (no session), and flushes the
AK on :meth:`TpmAttester.close`. A TPM Restart or Reset flushes transient objects; the adapter
then recreates the AK and retries the read-only command once. TPM2_PCR_Extend is never retried
(its effect could happen twice).

This module talks to a device; the sans-I/O core never imports it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank, Quote
from apmip.errors import TpmCommandError, TpmError

try:
    from tpm2_pytss import ESAPI, TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPMA_OBJECT
    from tpm2_pytss.types import (
        TPM2B_PUBLIC,
        TPML_DIGEST_VALUES,
        TPML_PCR_SELECTION,
        TPMS_ATTEST,
        TPMS_PCR_SELECTION,
        TPMT_HA,
        TPMU_HA,
    )
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise TpmError(
        "the TPM attester needs tpm2-pytss (pip install 'apmip[tpm]', which needs libtss2-dev)"
    ) from exc

log = logging.getLogger(__name__)

T = TypeVar("T")

PCR_COUNT = 24  # PC Client TPMs implement 24 PCRs per bank (TCG PC Client Platform TPM Profile)
SIZEOF_SELECT = 3
HASH_ALGS: dict[str, int] = {
    "sha1": TPM2_ALG.SHA1,
    "sha256": TPM2_ALG.SHA256,
    "sha384": TPM2_ALG.SHA384,
    "sha512": TPM2_ALG.SHA512,
}
# AK templates: tpm2-pytss's "alg:scheme:symmetric" notation; restricted signing keys must
# name their scheme and have no symmetric algorithm (Part 1, "Restricted Signing Keys")
AK_TEMPLATES: dict[str, str] = {
    "ecc256": "ecc256:ecdsa-sha256:null",
    "ecc384": "ecc384:ecdsa-sha384:null",
    "rsa2048": "rsa2048:rsassa-sha256:null",
    "rsa2048-pss": "rsa2048:rsapss-sha256:null",
}
# tpm2_createak's default attributes and the ones apmip.attest.tpm2.ak_name assumes, so a
# verifier can compute the AK's name (and qualified name) from its certified public key
AK_ATTRIBUTES = (
    TPMA_OBJECT.FIXEDTPM
    | TPMA_OBJECT.FIXEDPARENT
    | TPMA_OBJECT.SENSITIVEDATAORIGIN
    | TPMA_OBJECT.USERWITHAUTH
    | TPMA_OBJECT.RESTRICTED
    | TPMA_OBJECT.SIGN_ENCRYPT
)
HIERARCHIES = {"endorsement": ESYS_TR.ENDORSEMENT, "owner": ESYS_TR.OWNER}
# persistent handles the TCG handle registry assigns to endorsement-hierarchy keys
PERSISTENT_ENDORSEMENT = range(0x81010000, 0x81020000)
TRANSIENT_FIRST = 0x80000000
PERSISTENT_FIRST = 0x81000000
TPM_PT_FIRMWARE_VERSION_1 = 0x10B

# response codes this adapter treats specially (Part 2, 6.6 TPM_RC)
RC_OBJECT_MEMORY = 0x902
RC_SESSION_MEMORY = 0x903
RC_REFERENCE_H0 = 0x910
RC_HANDLE = 0x08B
_HINTS = {
    RC_OBJECT_MEMORY: "the TPM's transient object slots are full; without a resource manager "
    "flush leftovers with `tpm2_flushcontext -t` or open with flush_leftovers=True",
    RC_SESSION_MEMORY: "the TPM's session slots are full; flush them with "
    "`tpm2_flushcontext -s` or use a resource manager",
}


def _stale_handle(exc: TSS2_Exception) -> bool:
    """Was the AK's transient handle flushed under us (TPM Restart or Reset)?"""
    return int(exc.error) in (RC_REFERENCE_H0, RC_HANDLE)


def _command_error(command: str, exc: TSS2_Exception) -> TpmCommandError:
    rc = int(exc.rc)
    return TpmCommandError(command, rc, str(exc), _HINTS.get(int(exc.error), ""))


def _hash_alg(bank: str, what: str) -> int:
    try:
        return HASH_ALGS[bank]
    except KeyError:
        raise TpmError(
            f"{what}: PCR bank {bank!r} unknown (known: {', '.join(HASH_ALGS)})"
        ) from None


def pcr_selection(selection: tuple[PcrBank, ...], what: str = "PCR selection") -> Any:
    """A TPML_PCR_SELECTION with one entry per bank, in the caller's bank order."""
    entries = []
    for bank in selection:
        bitmap = bytearray(SIZEOF_SELECT)
        for index in bank.pcrs:
            if not 0 <= index < PCR_COUNT:
                raise TpmError(f"{what}: PCR {index} of bank {bank.hash_alg} outside 0..23")
            bitmap[index // 8] |= 1 << (index % 8)
        entries.append(
            TPMS_PCR_SELECTION(
                hash=_hash_alg(bank.hash_alg, what),
                sizeofSelect=SIZEOF_SELECT,
                pcrSelect=bytes(bitmap),
            )
        )
    return TPML_PCR_SELECTION(entries)


def _selected(tpml: Any) -> list[tuple[str, int]]:
    """(bank, index) pairs of a TPML_PCR_SELECTION, in the order the TPM lists values."""
    names = {alg: name for name, alg in HASH_ALGS.items()}
    out: list[tuple[str, int]] = []
    for i in range(tpml.count):
        sel = tpml.pcrSelections[i]
        bank = names.get(int(sel.hash), f"alg-0x{int(sel.hash):04x}")
        bitmap = bytes(sel.pcrSelect)[: sel.sizeofSelect]
        out.extend((bank, p) for p in range(len(bitmap) * 8) if bitmap[p // 8] >> (p % 8) & 1)
    return out


class TpmAttester:
    """Implements :class:`apmip.attest.attester.Attester` on a TPM 2.0.

    ``tcti`` is a tpm2-tss TCTI string: ``swtpm:host=127.0.0.1,port=2321``,
    ``device:/dev/tpmrm0``, ``tabrmd`` ... ``key`` chooses the AK template (see
    :data:`AK_TEMPLATES`). ``hierarchy`` is ``endorsement`` (the default; see the module
    docstring for why) or ``owner`` (only to show the obfuscated counters).
    ``persistent_handle`` (in 0x81010000..0x8101FFFF) keeps the AK there: it is used if present
    and created and made persistent otherwise. ``flush_leftovers`` flushes every transient
    object on the TPM first, for a TPM without resource manager that a crashed process left full.
    """

    def __init__(
        self,
        tcti: str,
        *,
        key: str = "ecc256",
        hierarchy: str = "endorsement",
        persistent_handle: int | None = None,
        flush_leftovers: bool = False,
    ) -> None:
        if key not in AK_TEMPLATES:
            raise TpmError(f"TPM attester: key {key!r} unknown (known: {', '.join(AK_TEMPLATES)})")
        if hierarchy not in HIERARCHIES:
            raise TpmError(f"TPM attester: hierarchy {hierarchy!r} not in {sorted(HIERARCHIES)}")
        if persistent_handle is not None and (
            persistent_handle not in PERSISTENT_ENDORSEMENT or hierarchy != "endorsement"
        ):
            raise TpmError(
                f"TPM attester: persistent handle 0x{persistent_handle:08x} needs the endorsement "
                "hierarchy and a handle in 0x81010000..0x8101ffff"
            )
        self.tcti = tcti
        self.key = key
        self.hierarchy = hierarchy
        self.persistent_handle = persistent_handle
        try:
            self._esapi = ESAPI(tcti)
        except TSS2_Exception as exc:
            raise TpmCommandError(
                f"connecting to the TPM at {tcti!r}", int(exc.rc), str(exc)
            ) from exc
        self._ak: Any = None
        self._ak_public: Any = None
        self._ak_name = b""
        self._ak_qualified_name = b""
        try:
            if flush_leftovers:
                self._flush_leftovers()
            self._load_ak()
        except BaseException:
            self._esapi.close()
            raise

    # -- the attestation key --

    def _template(self) -> Any:
        return TPM2B_PUBLIC.parse(AK_TEMPLATES[self.key], objectAttributes=AK_ATTRIBUTES)

    def _load_ak(self) -> None:
        handle = self.persistent_handle
        if handle is not None and self._handle_exists(handle):
            ak = self._call("TPM2_ReadPublic", lambda: self._esapi.tr_from_tpmpublic(handle))
            self._adopt(ak)
            self._check_public(self._ak_public, handle)
            log.info("TPM AK loaded from persistent handle 0x%08x", handle)
            return
        transient, *_ = self._call(
            "TPM2_CreatePrimary",
            lambda: self._esapi.create_primary(
                None, self._template(), HIERARCHIES[self.hierarchy]
            ),
        )
        if handle is None:
            self._adopt(transient)
            log.info("TPM AK %s created in the %s hierarchy", self.key, self.hierarchy)
            return
        try:
            persistent = self._call(
                "TPM2_EvictControl",
                lambda: self._esapi.evict_control(ESYS_TR.OWNER, transient, handle),
            )
        finally:
            self._esapi.flush_context(transient)
        self._adopt(persistent)
        log.info("TPM AK %s created and persisted at 0x%08x", self.key, handle)

    def _adopt(self, ak: Any) -> None:
        """Use ``ak`` as the AK; keep its public area, name and qualified name."""
        public, name, qualified = self._call(
            "TPM2_ReadPublic", lambda: self._esapi.read_public(ak)
        )
        self._ak = ak
        self._ak_public = public
        self._ak_name = bytes(name)
        self._ak_qualified_name = bytes(qualified)

    def _check_public(self, public: Any, handle: int) -> None:
        area = public.publicArea
        attrs = int(area.objectAttributes)
        wanted = int(TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.FIXEDTPM)
        if attrs & wanted != wanted or attrs & int(TPMA_OBJECT.DECRYPT):
            raise TpmError(
                f"TPM attester: the key at 0x{handle:08x} (attributes 0x{attrs:08x}) is not a "
                "restricted, fixedTPM signing key; evict it or choose another handle"
            )
        expected = self._template().publicArea.type
        if int(area.type) != int(expected):
            raise TpmError(
                f"TPM attester: the key at 0x{handle:08x} has type 0x{int(area.type):04x}, "
                f"the {self.key} template wants 0x{int(expected):04x}"
            )

    def _handle_exists(self, handle: int) -> bool:
        _more, data = self._call(
            "TPM2_GetCapability", lambda: self._esapi.get_capability(TPM2_CAP.HANDLES, handle, 1)
        )
        return handle in [int(h) for h in data.data.handles]

    def _flush_leftovers(self) -> None:
        _more, data = self._call(
            "TPM2_GetCapability",
            lambda: self._esapi.get_capability(TPM2_CAP.HANDLES, TRANSIENT_FIRST, 64),
        )
        for raw in [int(h) for h in data.data.handles if int(h) < PERSISTENT_FIRST]:
            tr = self._call(
                "TPM2_ReadPublic", functools.partial(self._esapi.tr_from_tpmpublic, raw)
            )
            self._call("TPM2_FlushContext", functools.partial(self._esapi.flush_context, tr))
            log.warning("TPM attester: flushed leftover transient object 0x%08x", raw)

    def _call(self, command: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except TSS2_Exception as exc:
            raise _command_error(command, exc) from exc

    def _with_ak(self, command: str, fn: Callable[[], T]) -> T:
        """Run a read-only command that uses the AK; recreate the AK once if the TPM flushed
        it (a TPM Restart or Reset in between) and try again."""
        try:
            return fn()
        except TSS2_Exception as exc:
            if not _stale_handle(exc) or self.persistent_handle is not None:
                raise _command_error(command, exc) from exc
        log.info("TPM AK handle no longer loaded (TPM restarted or reset): recreating the AK")
        self._esapi.tr_close(self._ak)
        self._ak = None
        self._load_ak()
        return self._call(command, fn)

    # -- the Attester protocol --

    def quote(self, qualifying_data: bytes, selection: tuple[PcrBank, ...]) -> Quote:
        """TPM2_Quote (Part 3, section 18.4) with the AK's own scheme."""
        if len(qualifying_data) > tpm2.MAX_DATA:
            raise TpmError(
                f"TPM2_Quote: qualifying data of {len(qualifying_data)} bytes > {tpm2.MAX_DATA}"
            )
        tpml = pcr_selection(selection, "TPM2_Quote")
        attest, signature = self._with_ak(
            "TPM2_Quote", lambda: self._esapi.quote(self._ak, tpml, qualifying_data)
        )
        # TPM2B_ATTEST's buffer is the marshalled TPMS_ATTEST; TPMT_SIGNATURE marshals as is
        return Quote(bytes(attest), bytes(signature.marshal()))

    def pcr_read(self, selection: tuple[PcrBank, ...]) -> dict[tuple[str, int], bytes]:
        """TPM2_PCR_Read in as many calls as needed: each answers at most 8 PCRs and says
        which ones (Part 3, section 22.4)."""
        wanted = [(b.hash_alg, p) for b in selection for p in sorted(set(b.pcrs))]
        pcr_selection(selection, "TPM2_PCR_Read")  # validates banks and indices
        values: dict[tuple[str, int], bytes] = {}
        remaining = list(wanted)
        while remaining:
            banks: dict[str, list[int]] = {}
            for bank, index in remaining:
                banks.setdefault(bank, []).append(index)
            tpml = pcr_selection(tuple(PcrBank(b, tuple(p)) for b, p in banks.items()))
            _counter, out_sel, digests = self._call(
                "TPM2_PCR_Read", functools.partial(self._esapi.pcr_read, tpml)
            )
            returned = _selected(out_sel)
            if not returned:
                missing = ", ".join(f"{b}:{p}" for b, p in remaining)
                raise TpmError(f"TPM2_PCR_Read returned none of {missing} (bank not allocated?)")
            if len(returned) != digests.count:
                raise TpmError(
                    f"TPM2_PCR_Read listed {len(returned)} PCRs but {digests.count} values"
                )
            for i, pair in enumerate(returned):
                values[pair] = bytes(digests.digests[i])
            remaining = [pair for pair in remaining if pair not in values]
        return {pair: values[pair] for pair in wanted}

    def extend(self, pcr: int, digests: dict[str, bytes]) -> None:
        """TPM2_PCR_Extend of one PCR in each named bank, in one command."""
        if not 0 <= pcr < PCR_COUNT:
            raise TpmError(f"TPM2_PCR_Extend: PCR {pcr} outside 0..23")
        entries = []
        for bank, digest in digests.items():
            alg = _hash_alg(bank, "TPM2_PCR_Extend")
            size = tpm2.DIGEST_SIZES[alg]
            if len(digest) != size:
                raise TpmError(
                    f"TPM2_PCR_Extend PCR {pcr} {bank}: digest of {len(digest)} bytes, not {size}"
                )
            entries.append(TPMT_HA(hashAlg=alg, digest=TPMU_HA(**{bank: digest})))
        values = TPML_DIGEST_VALUES(entries)
        self._call("TPM2_PCR_Extend", lambda: self._esapi.pcr_extend(ESYS_TR.PCR0 + pcr, values))

    def ak_public_pem(self) -> bytes:
        return bytes(self._ak_public.to_pem())

    def close(self) -> None:
        """Flush the transient AK (a persistent one stays) and release the TCTI."""
        if self._esapi.is_closed():
            return
        try:
            if self._ak is not None and self.persistent_handle is None:
                self._esapi.flush_context(self._ak)
        except TSS2_Exception as exc:
            log.debug("TPM attester: AK already gone at close: %s", exc)
        finally:
            self._ak = None
            self._esapi.close()

    def __enter__(self) -> TpmAttester:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what tests and operators may want to see --

    def ak_public_area(self) -> bytes:
        """The AK's marshalled TPM2B_PUBLIC (what `tpm2_readpublic -o` writes)."""
        return bytes(self._ak_public.marshal())

    def ak_name(self) -> bytes:
        """The AK's TPM name: nameAlg id and the digest of its TPMT_PUBLIC (Part 1, "Names")."""
        return self._ak_name

    def ak_qualified_name(self) -> bytes:
        """The AK's qualified name, H(hierarchy handle || name) for a primary key (Part 1,
        16.5): what TPM2_Quote writes as qualifiedSigner."""
        return self._ak_qualified_name

    def read_clock(self) -> tpm2.ClockInfo:
        """TPM2_ReadClock: the clock and counters in clear (an unsigned read is never
        obfuscated), to compare with what a quote reports."""
        info = self._call("TPM2_ReadClock", self._esapi.read_clock).clockInfo
        return tpm2.ClockInfo(
            int(info.clock), int(info.resetCount), int(info.restartCount), bool(info.safe)
        )

    def firmware_version(self) -> int:
        """TPM_PT_FIRMWARE_VERSION_1 and _2 as one 64-bit value, as TPMS_ATTEST carries it."""
        _more, data = self._call(
            "TPM2_GetCapability",
            lambda: self._esapi.get_capability(
                TPM2_CAP.TPM_PROPERTIES, TPM_PT_FIRMWARE_VERSION_1, 2
            ),
        )
        props = {int(p.property): int(p.value) for p in data.data.tpmProperties}
        high = props.get(TPM_PT_FIRMWARE_VERSION_1, 0)
        low = props.get(TPM_PT_FIRMWARE_VERSION_1 + 1, 0)
        return high << 32 | low


def decode_attest(attest: bytes) -> Any:
    """tpm2-pytss's own TPMS_ATTEST decoding, for cross-checking apmip's parser in tests."""
    return TPMS_ATTEST.unmarshal(attest)[0]
