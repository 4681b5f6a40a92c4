"""Fixtures for tests against swtpm: each module or test starts its own TPM in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apmip.attest.swtpm import SwtpmProcess
from apmip.attest.tpm_device import TpmAttester

from .skips import require_swtpm


@pytest.fixture(scope="module")
def module_swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwtpmProcess]:
    """One swtpm shared by the tests of a module that do not change its life cycle."""
    require_swtpm()
    with SwtpmProcess(tmp_path_factory.mktemp("swtpm")) as tpm:
        yield tpm


@pytest.fixture(scope="module")
def module_attester(module_swtpm: SwtpmProcess) -> Iterator[TpmAttester]:
    with TpmAttester(module_swtpm.tcti) as attester:
        yield attester


@pytest.fixture
def swtpm(tmp_path: Path) -> Iterator[SwtpmProcess]:
    """A swtpm of the test's own, for tests that power-cycle, restart or fill it."""
    require_swtpm()
    with SwtpmProcess(tmp_path / "swtpm") as tpm:
        yield tpm
