"""Runtime measurement: the daemon's files, hashed and extended into an application PCR.

At start-up a daemon measures its configuration file(s), the ``.py`` files of its own package
and the native libraries its process has loaded, in a deterministic order, extending one event
per file into the application PCR (see :mod:`apmip.attest.events` for the event rule) and
keeping the ordered list so a verifier can replay it and name a file that differs.

The default application PCR is 13. PCRs 0-15 are *static*: only a TPM Reset clears them, while
PCR 16 (debug) and PCR 23 (application support) can be reset by software at locality 0, which
would let a compromised daemon reset the PCR and replay a clean list (TCG PC Client Platform
TPM Profile, PCR attributes). Among 8-15, which the PC Client profile leaves to the operating
system, 13 is the one a stock Linux boot uses least (only systemd-stub system extensions
measure there). On a platform that does use it, choose another with the ``pcr`` argument.

File reading is the only I/O here; the attester does the extending.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from apmip.attest.attester import Attester
from apmip.attest.events import Event
from apmip.errors import AttestationError

log = logging.getLogger(__name__)

DEFAULT_APP_PCR = 13
DEFAULT_BANKS = ("sha256", "sha1")

# one file to measure: (kind, name as recorded, path to read)
Item = tuple[str, str, Path]


def file_sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
    except OSError as exc:
        raise AttestationError(f"cannot measure {path}: {exc}") from exc
    return h.digest()


def config_items(paths: Iterable[Path | str]) -> list[Item]:
    """Configuration files, recorded under the path as given."""
    return [("config", str(p), Path(p)) for p in paths]


def package_items(package: str = "apmip") -> list[Item]:
    """The package's ``.py`` files, sorted, recorded relative to the package's parent
    directory (``apmip/core/lma.py``) so reference values hold across install locations."""
    module = importlib.import_module(package)
    if module.__file__ is None:
        raise AttestationError(f"package {package!r} has no files to measure")
    root = Path(module.__file__).resolve().parent
    files = sorted(root.rglob("*.py"))
    return [("executable", p.relative_to(root.parent).as_posix(), p) for p in files]


def library_items() -> list[Item]:
    """Native extension modules loaded in this process, sorted by module name and recorded
    as ``module:filename`` (their site-packages location varies between machines)."""
    items = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith((".so", ".pyd")):
            items.append(("library", f"{name}:{Path(path).name}", Path(path)))
    return items


def measure(
    attester: Attester,
    items: Iterable[Item],
    pcr: int = DEFAULT_APP_PCR,
    banks: tuple[str, ...] = DEFAULT_BANKS,
) -> tuple[Event, ...]:
    """Hash each file, extend its event into ``pcr`` of each bank, return the list in order."""
    events = []
    for kind, name, path in items:
        event = Event(pcr, kind, name, file_sha256(path))
        attester.extend(pcr, {bank: event.digest(bank) for bank in banks})
        events.append(event)
    log.debug("measured %d files into PCR %d", len(events), pcr)
    return tuple(events)
