"""The software attester against a real swtpm: same extends, same PCRs, same quoted digest.

The software attester claims to write the TPM 2.0 structures a TPM writes. Here both receive
the same random sequence of extends and are quoted over the same random selections; the PCR
values and the quote fields that depend only on them must be identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apmip.attest import tpm2
from apmip.attest.attester import PcrBank
from apmip.attest.software import SoftwareAttester, generate_key
from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import TpmAttester

from .skips import needs_swtpm

pytestmark = [pytest.mark.swtpm, needs_swtpm]

# PCRs 17-22 are left out: a TPM resets them to all ones (they wait for a dynamic launch), the
# software attester to zeros; no apmip selection uses them
COMPARABLE = (*range(17), 23)
BANKS = ("sha256", "sha1")


@pytest.fixture(scope="module")
def pair(
    module_swtpm: SwtpmProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TpmAttester, SoftwareAttester]]:
    work: Path = tmp_path_factory.mktemp("software")
    generate_key(work / "ak.pem")
    software = SoftwareAttester(work / "ak.pem", work / "state.json", clock=lambda: 1)
    with TpmAttester(module_swtpm.tcti) as tpm:
        yield tpm, software


extends = st.lists(
    st.tuples(st.sampled_from(COMPARABLE), st.binary(min_size=32, max_size=32)),
    min_size=1,
    max_size=6,
)
selections = st.lists(
    st.tuples(
        st.sampled_from(BANKS),
        st.lists(st.sampled_from(COMPARABLE), min_size=1, max_size=12, unique=True),
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda bank: bank[0],
).map(lambda banks: tuple(PcrBank(b, tuple(sorted(p))) for b, p in banks))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=extends, selection=selections, nonce=st.binary(min_size=0, max_size=64))
def test_same_extends_same_pcrs_same_quote(
    pair: tuple[TpmAttester, SoftwareAttester],
    steps: list[tuple[int, bytes]],
    selection: tuple[PcrBank, ...],
    nonce: bytes,
) -> None:
    tpm, software = pair
    for pcr, data in steps:
        digests = {"sha256": data, "sha1": data[:20]}
        tpm.extend(pcr, digests)
        software.extend(pcr, digests)
    assert tpm.pcr_read(selection) == software.pcr_read(selection)

    ours = tpm2.parse_attest(tpm.quote(nonce, selection).attest)
    theirs = tpm2.parse_attest(software.quote(nonce, selection).attest)
    assert (ours.magic, ours.type, ours.extra_data) == (theirs.magic, theirs.type, nonce)
    assert theirs.extra_data == nonce
    assert ours.quote is not None and theirs.quote is not None
    assert ours.quote.pcr_select == theirs.quote.pcr_select
    assert ours.quote.pcr_digest == theirs.quote.pcr_digest
