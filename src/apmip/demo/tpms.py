"""`apmip demo --tpm swtpm`: one software TPM per node, started and stopped by the demo."""

from __future__ import annotations

import contextlib
from pathlib import Path

from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import TpmAttester

from .setup import NODES


def start_tpms(stack: contextlib.ExitStack, root: Path) -> tuple[dict[str, str], dict[str, bytes]]:
    """Start a swtpm per node; return each node's TCTI and attestation-key public PEM.

    The attestation key is a primary key of the endorsement hierarchy: the daemon that opens
    the TPM later derives the very same key from the same seed, so the certificate issued
    here for its public part stays valid.
    """
    tcti: dict[str, str] = {}
    ak_public: dict[str, bytes] = {}
    for spec in NODES:
        tpm = stack.enter_context(SwtpmProcess(root / "tpm" / spec.name))
        tcti[spec.name] = tpm.tcti
        attester = TpmAttester(tpm.tcti)
        try:
            ak_public[spec.name] = attester.ak_public_pem()
        finally:
            attester.close()
    return tcti, ak_public
