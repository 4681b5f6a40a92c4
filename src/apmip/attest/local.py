"""The attesting side: answer a nonce with evidence from the local attester.

The daemons hold one :class:`LocalEvidence` built at start-up, after the boot chain and the
runtime measurements were extended, and call :meth:`LocalEvidence.produce` for each PBU or
PBA that must carry evidence. The attester (TPM or software) does the signing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence

from apmip.attest.attester import Attester, PcrBank, Quote
from apmip.attest.batch import EXTRA_BATCH, MAX_LEAVES, BatchProof, all_paths
from apmip.attest.binding import (
    EXTRA_CLAIM,
    SignallingContext,
    encode_claim,
    qualifying_data,
)
from apmip.attest.events import Event
from apmip.attest.evidence import Evidence, PcrValue
from apmip.errors import TpmError


class LocalEvidence:
    """Evidence producer for one attester and one PCR selection.

    ``events`` is the measured-event list (boot chain and runtime measurements) whose compact
    hints travel with the evidence so the verifier can name what differs.
    """

    def __init__(
        self,
        attester: Attester,
        ak_cert_der: bytes,
        selection: tuple[PcrBank, ...],
        events: Iterable[Event] = (),
    ) -> None:
        self.attester = attester
        self.ak_cert_digest = hashlib.sha256(ak_cert_der).digest()
        self.selection = tuple(PcrBank(b.hash_alg, tuple(sorted(set(b.pcrs)))) for b in selection)
        self.events = tuple(events)
        selected = {p for b in self.selection for p in b.pcrs}
        self._hints = tuple(e.hint() for e in self.events if e.pcr in selected)

    def add_events(self, events: Iterable[Event]) -> None:
        """Record events measured after construction (they must also have been extended)."""
        self.events += tuple(events)
        selected = {p for b in self.selection for p in b.pcrs}
        self._hints = tuple(e.hint() for e in self.events if e.pcr in selected)

    def produce(self, nonce: bytes, context: SignallingContext) -> bytes:
        """Quote over the qualifying data of ``nonce`` and ``context``; Evidence bytes."""
        quote = self.attester.quote(qualifying_data(nonce, context), self.selection)
        claim = ((EXTRA_CLAIM, encode_claim(nonce, context)),)
        return self._evidence(quote, claim).to_bytes()

    def produce_batch(self, challenges: Sequence[tuple[bytes, SignallingContext]]) -> list[bytes]:
        """Answer several challenges with one quote over the Merkle root of their qualifying
        data (batch.py); one Evidence per challenge, in order, each with its inclusion path."""
        leaves = [qualifying_data(nonce, context) for nonce, context in challenges]
        if len(leaves) > MAX_LEAVES:
            raise TpmError(f"batch of {len(leaves)} challenges exceeds {MAX_LEAVES}")
        root, paths = all_paths(leaves)
        quote = self.attester.quote(root, self.selection)
        base = self._evidence(quote, ())
        out = []
        for index, path in enumerate(paths):
            proof = BatchProof(index, len(leaves), path)
            nonce, context = challenges[index]
            extras = ((EXTRA_BATCH, proof.encode()), (EXTRA_CLAIM, encode_claim(nonce, context)))
            out.append(dataclasses.replace(base, extras=extras).to_bytes())
        return out

    def _evidence(self, quote: Quote, extras: tuple[tuple[int, bytes], ...]) -> Evidence:
        values = self.attester.pcr_read(self.selection)
        try:
            pcrs = tuple(
                PcrValue(b.hash_alg, p, values[(b.hash_alg, p)])
                for b in self.selection
                for p in b.pcrs
            )
        except KeyError as exc:
            raise TpmError(f"attester returned no value for PCR {exc.args[0]}") from exc
        return Evidence(
            quote.attest, quote.signature, self.ak_cert_digest, pcrs, self._hints, extras
        )


# what the daemons quote by default: the boot chain (firmware, its settings, option ROMs,
# boot loader, Secure Boot policy, kernel command line, kernel and initrd) and the
# application PCR; eight SHA-256 PCRs keep the evidence near 530 bytes plus hints
DEFAULT_SELECTION = (PcrBank("sha256", (0, 1, 2, 4, 7, 8, 9, 13)),)
