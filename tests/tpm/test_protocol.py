"""The MAG and LMA engines with real evidence: each side's TPM (swtpm, or the software attester)
quotes, each side's verifier appraises, in the in-memory network with an injected clock.

What this adds to the appraisal tests: a peer whose TPM was power-cycled or restarted keeps its
bindings and is appraised afresh when its trust session is renewed (a `reboot` or `restart`
warning), while a peer that comes back with a changed configuration is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apmip.attest import pki
from apmip.attest.binding import SignallingContext
from apmip.core.events import Event
from apmip.core.lma import LmaEngine, LmaSettings
from apmip.core.mag import MagEngine, MagSettings
from apmip.core.trust import TrustSettings

from ..core.pair import LMA, CountingNonces, Network
from .platforms import KINDS, NOW, Platform, config_file, verifier_for
from .skips import require_swtpm

pytestmark = pytest.mark.swtpm

MAG = "2001:db8::11"
MN = b"mn1@apmip.example"
WLAN = 4
TRUST_LIFETIME = 300.0


class Live:
    """The platform's current evidence source (a reboot replaces it)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def produce(self, nonce: bytes, context: SignallingContext) -> bytes:
        return self.platform.local.produce(nonce, context)


@pytest.fixture(params=KINDS)
def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Network, Platform, Platform]]:
    kind = str(request.param)
    if kind == "swtpm":
        require_swtpm()
    pki_dir = tmp_path / "pki"
    pki.init_ca(pki_dir, NOW)
    mag_config = config_file(tmp_path / "mag.toml", f'[mag]\nlma = "{LMA}"\n')
    lma_config = config_file(tmp_path / "lma.toml", "[lma]\nprefixes = 16\n")
    mag = Platform(kind, tmp_path / "mag", pki_dir, "mag1", [mag_config])
    lma = Platform(kind, tmp_path / "lma", pki_dir, "lma1", [lma_config])
    trust = TrustSettings(trust_lifetime=TRUST_LIFETIME, nonce_lifetime=10.0)
    net = Network()
    net.lma = LmaEngine(
        LmaSettings(address=LMA, ipv6_checksum=True, trust=trust, min_delay_before_delete=1.0),
        nonces=CountingNonces("lma"),
        appraiser=verifier_for(pki_dir, mag.references("mag-approved")),
        evidence=Live(lma),
    )
    net.mags[MAG] = MagEngine(
        MagSettings(address=MAG, lma=LMA, lifetime=40.0, ipv6_checksum=True, trust=trust),
        nonces=CountingNonces(MAG),
        appraiser=verifier_for(pki_dir, lma.references("lma-approved")),
        evidence=Live(mag),
    )
    yield net, mag, lma
    mag.close()
    lma.close()


def appraisals(events: list[Event]) -> list[tuple[str, str, str]]:
    """(appraised peer, verdict, reason) of each appraisal in ``events``."""
    return [
        (e.peer, e.detail["verdict"], e.detail["reason"])
        for e in events
        if e.kind == "peer-appraised"
    ]


def attach(net: Network) -> list[Event]:
    start = len(net.events)
    net.take(net.mags[MAG].attach(MN, WLAN, net.now, 1), MAG)
    net.run()
    return net.events[start:]


def until_renewed(net: Network) -> list[Event]:
    """Let refreshes run until both trust sessions have been renewed once."""
    events: list[Event] = []
    for _ in range(int(TRUST_LIFETIME // 10) + 6):
        events += net.advance(10.0)  # the MAG refreshes at 75 % of the 40 s lifetime
    return events


def test_attach_with_real_evidence_on_both_sides(
    world: tuple[Network, Platform, Platform],
) -> None:
    net, _mag, _lma = world
    events = attach(net)
    assert appraisals(events) == [(MAG, "accept", "ok"), (LMA, "accept", "ok")]
    assert "binding-established" in [e.kind for e in events]
    assert net.lma is not None and net.lma.cache[MN].mag == MAG


def test_power_cycled_mag_is_appraised_afresh_not_refused(
    world: tuple[Network, Platform, Platform],
) -> None:
    net, mag, _lma = world
    attach(net)
    mag.power_cycle()  # the MAG's platform reboots: boot chain and files measured again
    events = until_renewed(net)
    assert (MAG, "warn", "reboot") in appraisals(events)
    assert (LMA, "accept", "ok") in appraisals(events)
    assert not [e for e in events if e.kind in ("peer-refused", "binding-deleted")]
    assert net.lma is not None and net.lma.cache[MN].mag == MAG
    assert net.mags[MAG].bul[MN].state == "registered"
    # the next renewal, with no reboot in between, is a plain accept again
    assert (MAG, "accept", "ok") in appraisals(until_renewed(net))


def test_restarted_lma_tpm_is_appraised_afresh_not_refused(
    world: tuple[Network, Platform, Platform],
) -> None:
    net, _mag, lma = world
    attach(net)
    lma.restart()
    events = until_renewed(net)
    assert (LMA, "warn", "restart") in appraisals(events)
    assert (MAG, "accept", "ok") in appraisals(events)
    assert net.mags[MAG].bul[MN].state == "registered"


def test_mag_rebooted_with_a_changed_configuration_is_refused(
    world: tuple[Network, Platform, Platform], tmp_path: Path
) -> None:
    net, mag, _lma = world
    attach(net)
    config = tmp_path / "mag.toml"
    config.write_text(config.read_text() + 'lma = "2001:db8::666"\n')
    mag.power_cycle()
    events = until_renewed(net)
    refused = [a for a in appraisals(events) if a[0] == MAG]
    assert refused and refused[0] == (MAG, "reject", "reference")
    message = next(e for e in events if e.kind == "peer-appraised" and e.peer == MAG)
    assert f"config '{config}' differs" in message.detail["message"]
