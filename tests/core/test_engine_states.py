"""Random sequences of attach, detach, loss, replay, garbage and time through the engines.

Whatever happens, no engine raises, the LMA never gives one prefix to two mobile nodes, a MAG
that believes a binding registered agrees with the LMA on its prefix, and the MAG whose
evidence fails never holds a binding, even by replaying what the good MAGs sent.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .pair import LMA, build

MAGS = ("2001:db8::11", "2001:db8::12", "2001:db8::66")
TAMPERED = MAGS[2]
MNS = (b"a@apmip.example", b"b@apmip.example", b"c@apmip.example")


class Engines(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = build({MAGS[0]: b"mag-good", MAGS[1]: b"mag-good", TAMPERED: b"mag-bad"})
        self.tampered_at: dict[str, float] = {}

    @rule()
    def lma_restarts(self):
        self.net.lma = build({}).lma

    @rule(mag=st.sampled_from(MAGS[:2]))
    def mag_restarts_with_a_changed_platform(self, mag):
        self.net.mags[mag] = build({mag: b"mag-bad"}).mags[mag]
        self.tampered_at.setdefault(mag, self.net.now)

    @rule(
        mag=st.sampled_from(MAGS),
        mn=st.sampled_from(MNS),
        att=st.sampled_from([4, 8]),
        handoff=st.sampled_from([1, 2, 3, 4]),
        lose=st.integers(0, 2),
    )
    def attach(self, mag, mn, att, handoff, lose):
        self.net.drop_next = lose
        self.net.take(self.net.mags[mag].attach(mn, att, self.net.now, handoff), mag)
        self.net.run()

    @rule(mag=st.sampled_from(MAGS), mn=st.sampled_from(MNS), lose=st.integers(0, 1))
    def detach(self, mag, mn, lose):
        self.net.drop_next = lose
        self.net.take(self.net.mags[mag].detach(mn, self.net.now), mag)
        self.net.run()

    @rule(seconds=st.floats(0.05, 400.0))
    def time_passes(self, seconds):
        self.net.drop_next = 0
        self.net.advance(seconds)

    @rule(data=st.data())
    def replay_an_earlier_message(self, data):
        if not self.net.wire_log:
            return
        source, target, payload = data.draw(st.sampled_from(self.net.wire_log))
        self.net.take(self.net.node(target).receive(payload, source, self.net.now), target)
        self.net.run()

    @rule(data=st.data())
    def tampered_mag_relays_a_good_pbu(self, data):
        sent = [(s, p) for s, t, p in self.net.wire_log if t == LMA and s != TAMPERED]
        if not sent:
            return
        _, payload = data.draw(st.sampled_from(sent))
        self.net.take(self.net.lma.receive(payload, TAMPERED, self.net.now), LMA)
        self.net.run()

    @rule(payload=st.binary(max_size=80), to_lma=st.booleans())
    def garbage(self, payload, to_lma):
        target = LMA if to_lma else MAGS[0]
        source = MAGS[1] if to_lma else LMA
        self.net.take(self.net.node(target).receive(payload, source, self.net.now), target)
        self.net.run()

    @invariant()
    def prefixes_are_unique_and_agreed(self):
        cache = self.net.lma.cache
        prefixes = [entry.prefix for entry in cache.values()]
        assert len(prefixes) == len(set(prefixes))
        for mag in self.net.mags.values():
            for mn, entry in mag.bul.items():
                if entry.state == "registered" and mn in cache:
                    assert entry.prefix == cache[mn].prefix

    @invariant()
    def the_tampered_mag_never_holds_a_binding(self):
        assert all(entry.mag != TAMPERED for entry in self.net.lma.cache.values())
        assert all(e.state != "registered" for e in self.net.mags[TAMPERED].bul.values())

    @invariant()
    def a_mag_changed_after_restart_never_registers_again(self):
        for entry in self.net.lma.cache.values():
            if entry.mag in self.tampered_at:
                # the last accepted registration from it predates the change
                assert entry.expires - entry.lifetime <= self.tampered_at[entry.mag]

    @invariant()
    def no_engine_error_was_counted(self):
        assert self.net.lma.counters["internal_errors"] == 0


Engines.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestEngines = Engines.TestCase
