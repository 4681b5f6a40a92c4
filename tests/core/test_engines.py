"""The LMA and MAG engines talking to each other in memory, with an injected clock."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from apmip.core import session
from apmip.core.events import Output
from apmip.errors import EncodeError
from apmip.wire import mh
from apmip.wire.attestation import read_attestation
from apmip.wire.messages import BindingAck, BindingUpdate
from apmip.wire.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
)
from apmip.wire.session import mac_span

from .pair import LMA, build, kinds

MAG1 = "2001:db8::11"
MAG2 = "2001:db8::12"
MN = b"mn1@apmip.example"
WLAN, LTE = 4, 8  # RFC 5213 section 8.5 / IANA Access Technology Type values


def attach(net, mag: str, handoff: int = 1, att: int = WLAN):
    start = len(net.events)
    net.take(net.mags[mag].attach(MN, att, net.now, handoff), mag)
    net.run()
    return net.events[start:]


def detach(net, mag: str):
    start = len(net.events)
    net.take(net.mags[mag].detach(MN, net.now), mag)
    net.run()
    return net.events[start:]


def messages(net):
    return [(src, dst, mh.decode(data)) for src, dst, data in net.wire_log]


def test_first_attach_challenges_then_binds_with_mutual_evidence():
    net = build({MAG1: b"mag-good"})
    events = attach(net, MAG1)
    assert kinds(events) == [
        "attach",
        "challenge-sent",
        "challenged",
        "peer-appraised",
        "binding-created",
        "peer-appraised",
        "binding-established",
    ]
    wire = messages(net)
    # PBU (nonce of the MAG) -> PBA 220 (nonce of the LMA) -> PBU (evidence) -> PBA 0 (evidence)
    assert [type(m).__name__ for _, _, m in wire] == [
        "BindingUpdate",
        "BindingAck",
        "BindingUpdate",
        "BindingAck",
    ]
    first, challenge, second, accept = (m for _, _, m in wire)
    assert first.proxy and first.ack and first.lifetime == 10  # 40 s in 4-second units
    assert read_attestation(first).request is not None
    assert read_attestation(first).evidence is None
    assert challenge.status == 220 and challenge.sequence == first.sequence
    assert read_attestation(challenge).evidence is None
    assert second.sequence == (first.sequence + 1) & 0xFFFF
    assert read_attestation(second).evidence is not None
    assert accept.status == 0 and accept.sequence == second.sequence
    assert read_attestation(accept).evidence is not None
    prefix = accept.find(HomeNetworkPrefix).prefix
    assert prefix == IPv6Network("2001:db8:8085:a57c::/64")  # from SHA-256 of the MN-ID
    entry = net.lma.cache[MN]
    assert (entry.mag, entry.prefix, entry.att) == (MAG1, prefix, WLAN)
    assert net.mags[MAG1].bul[MN].state == "registered"
    assert net.mags[MAG1].bul[MN].prefix == prefix


def test_refresh_within_trust_session_needs_no_evidence():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    before = len(net.wire_log)
    sent = net.lma.counters["evidence_sent"]
    events = net.advance(31.0)  # refresh at 75 % of 40 s
    assert kinds(events) == ["binding-refreshed", "binding-refreshed"]
    pbu, pba = (mh.decode(d) for _, _, d in net.wire_log[before:])
    assert read_attestation(pbu).request is None and read_attestation(pbu).evidence is None
    assert pba.status == 0 and read_attestation(pba).evidence is None
    assert net.lma.counters["evidence_sent"] == sent
    assert net.lma.cache[MN].expires == net.now + 40.0


def test_handover_keeps_prefix_and_old_mag_deregistration_is_ignored():
    net = build({MAG1: b"mag-good", MAG2: b"mag-good"})
    attach(net, MAG1)
    prefix = net.lma.cache[MN].prefix
    net.now += 2.0
    events = attach(net, MAG2, handoff=3, att=LTE)
    handover = [e for e in events if e.kind == "binding-handover"]
    assert len(handover) == 1
    assert handover[0].detail == {"prefix": str(prefix), "previous": MAG1}
    assert net.mags[MAG2].bul[MN].prefix == prefix
    assert (net.lma.cache[MN].mag, net.lma.cache[MN].att) == (MAG2, LTE)
    # RFC 5213 section 5.3.5: the old MAG's de-registration must not remove the binding
    net.now += 1.0
    events = detach(net, MAG1)
    assert "dereg-ignored" in kinds(events)
    assert net.lma.cache[MN].mag == MAG2 and net.lma.cache[MN].delete_at is None


def test_deregistration_deletes_after_min_delay():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    events = detach(net, MAG1)
    assert kinds(events) == ["detach", "binding-deregistered", "binding-removed"]
    assert MN not in net.mags[MAG1].bul
    assert net.lma.cache[MN].delete_at == net.now + 1.0
    assert kinds(net.advance(1.0)) == ["binding-deleted"]
    assert MN not in net.lma.cache


def test_tampered_mag_is_refused_and_leaves_no_state():
    net = build({MAG1: b"mag-tampered"})
    events = attach(net, MAG1)
    refused = [e for e in events if e.kind == "pbu-refused"]
    assert refused and refused[0].detail["status"] == 221
    appraised = next(e for e in events if e.kind == "peer-appraised")
    assert (appraised.detail["verdict"], appraised.detail["reason"]) == ("reject", "reference")
    assert "refused-by-lma" in kinds(events)
    assert net.lma.cache == {} and net.mags[MAG1].bul == {}
    assert net.lma.trust.peers[MAG1].refusals == 1


def test_untrusted_lma_is_refused_and_its_binding_withdrawn():
    net = build({MAG1: b"mag-good"}, lma_tag=b"lma-tampered")
    events = attach(net, MAG1)
    refused = [e for e in events if e.kind == "lma-refused"]
    assert len(refused) == 1 and refused[0].detail["reason"] == "reference"
    assert "binding-established" not in kinds(events)
    assert net.mags[MAG1].bul == {}
    # the MAG withdrew the registration the LMA had accepted
    last = mh.decode(net.wire_log[-2][2])
    assert isinstance(last, BindingUpdate) and last.lifetime == 0
    assert net.lma.cache[MN].delete_at is not None


def test_lost_pba_is_retransmitted_with_new_sequence_and_timestamp():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    net.take(net.mags[MAG1].detach(MN, net.now), MAG1)
    net.run()
    net.now += 5.0
    net.drop_next = 1  # the next PBU is lost
    net.take(net.mags[MAG1].attach(MN, WLAN, net.now), MAG1)
    assert net.run() == []
    lost = mh.decode(net.wire_log[-1][2])
    events = net.advance(1.0)  # INITIAL_BINDACK_TIMEOUT
    again = mh.decode(net.wire_log[-2][2])
    assert again.sequence == (lost.sequence + 1) & 0xFFFF
    assert again.find(Timestamp).value > lost.find(Timestamp).value
    assert "binding-refreshed" in kinds(events) or "binding-created" in kinds(events)
    assert net.mags[MAG1].counters["retransmits"] == 1


def test_replayed_pbu_is_refused_without_appraisal():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    evidence_pbu = net.wire_log[2][2]
    calls = net.lma.trust._appraiser.calls
    out = net.lma.receive(evidence_pbu, MAG1, net.now + 0.1)
    pba = mh.decode(out.datagrams[0].data)
    assert isinstance(pba, BindingAck) and pba.status == 157  # lower than previous timestamp
    assert net.lma.trust._appraiser.calls == calls


def test_malformed_input_is_counted_and_changes_nothing():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    before = dict(net.lma.cache)
    good = bytearray(net.wire_log[0][2])
    for bad in (b"", b"\x3b\x01\x05\x00", bytes(good[:-3]), bytes(good[:4]) + b"\xff" * 40):
        out = net.lma.receive(bad, MAG1, net.now)
        assert out.datagrams == [] and kinds(out.events) == ["dropped"]
    assert net.lma.counters["rx_malformed"] == 4
    assert net.lma.cache == before


def test_trust_session_expiry_brings_a_fresh_challenge():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    net.take(net.mags[MAG1].detach(MN, net.now), MAG1)
    net.run()
    net.now += 301.0
    events = attach(net, MAG1)
    assert kinds(events).count("challenge-sent") == 1
    assert kinds(events)[-1] == "binding-established"


def test_plain_pmipv6_without_attestation():
    net = build({MAG1: b"mag-good"}, attest=False)
    events = attach(net, MAG1)
    assert kinds(events) == ["attach", "binding-created", "binding-established"]
    assert len(net.wire_log) == 2
    assert all(read_attestation(mh.decode(d)).request is None for _, _, d in net.wire_log)


def test_missing_options_get_their_rfc_status():
    net = build({MAG1: b"mag-good"})
    pbu = BindingUpdate(
        sequence=7,
        lifetime=10,
        ack=True,
        home=True,
        link_local=False,
        key_mgmt=False,
        map_reg=False,
        mobile_router=False,
        proxy=True,
        options=(),
    )
    out = net.lma.receive(
        mh.encode(pbu, src=IPv6Address(MAG1), dst=IPv6Address(LMA)), MAG1, net.now
    )
    assert mh.decode(out.datagrams[0].data).status == 160  # MISSING_MN_IDENTIFIER_OPTION


def test_a_flood_of_sources_cannot_grow_the_trust_table_or_evict_trusted_peers():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    net.lma.trust.max_peers = 64
    for i in range(500):
        source = f"2001:db8:f::{i:x}"
        pbu = BindingUpdate(
            sequence=i,
            lifetime=10,
            ack=True,
            proxy=True,
            options=(
                MobileNodeIdentifier(identifier=f"x{i}@flood".encode()),
                HomeNetworkPrefix(prefix=IPv6Network("::/0")),
                HandoffIndicator(value=1),
                AccessTechnologyType(value=4),
                Timestamp.from_seconds(net.now),
            ),
        )
        data = mh.encode(pbu, src=IPv6Address(source), dst=IPv6Address(LMA))
        (reply,) = net.lma.receive(data, source, net.now).datagrams
        assert mh.decode(reply.data).status == 220  # each one challenged, nothing registered
    assert len(net.lma.trust.peers) <= 64
    assert net.lma.trust.evictions >= 1
    assert net.lma.trust.trusted(MAG1, net.now)  # the MAG with a session was kept
    assert net.lma.cache[MN].mag == MAG1


# -- the trust session's key: only the peer that attested may use the session ---------------


def test_messages_in_a_trust_session_carry_a_mac_both_ways():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    assert net.lma.trust.peers[MAG1].key == net.mags[MAG1].trust.peers[LMA].key != b""
    before = len(net.wire_log)
    net.advance(31.0)  # the refresh
    (_, _, pbu), (_, _, pba) = net.wire_log[before:]
    key = net.lma.trust.peers[MAG1].key
    assert session.verify(pbu, key, session.TO_LMA, 32473)
    assert session.verify(pba, key, session.TO_MAG, 32473)
    assert not session.verify(pbu, key, session.TO_MAG, 32473)  # direction is bound
    assert mh.decode(pba).status == 0


def test_a_restarted_mag_with_changed_platform_is_appraised_again_and_refused():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    old_key = net.lma.trust.peers[MAG1].key
    # the MAG's daemon restarts with a changed configuration: same address, no key
    net.mags[MAG1] = build({MAG1: b"mag-tampered"}).mags[MAG1]
    net.now += 1.0
    events = attach(net, MAG1, handoff=5)
    assert kinds(events)[:3] == ["attach", "challenge-sent", "challenged"]
    refused = next(e for e in events if e.kind == "pbu-refused")
    assert refused.detail["status"] == 221
    peer = net.lma.trust.peers[MAG1]
    assert (peer.verdict, peer.reason) == ("reject", "reference")
    # the old session stays, usable only with a key the restarted MAG does not have
    assert peer.key == old_key
    # the refused MAG's later messages are challenged; the binding it had is untouched
    assert net.lma.counters["rx_bad_mac"] == 1
    assert net.lma.cache[MN].mag == MAG1 and net.lma.cache[MN].delete_at is None


def test_a_spoofed_deregistration_from_a_trusted_address_changes_nothing():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    spoofer = build({MAG1: b"mag-good"}).mags[MAG1]  # same address, same platform, no key
    spoofer.bul[MN] = net.mags[MAG1].bul[MN]
    out = spoofer.detach(MN, net.now + 0.5)
    reply = net.lma.receive(out.datagrams[0].data, MAG1, net.now + 0.5)
    assert mh.decode(reply.datagrams[0].data).status == 220  # challenged, not obeyed
    assert net.lma.cache[MN].delete_at is None


def test_a_restarted_lma_with_changed_platform_is_refused_at_the_next_refresh():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    net.lma = build({}, lma_tag=b"lma-tampered").lma  # restarted: no cache, no sessions
    events = net.advance(31.0)  # the MAG's refresh meets an LMA that no longer knows it
    assert kinds(events)[:3] == ["challenge-sent", "session-lost", "challenged"]
    refused = next(e for e in events if e.kind == "lma-refused")
    assert (refused.detail["reason"], refused.detail["aspect"]) == ("reference", "configuration")
    assert MN not in net.mags[MAG1].bul


def test_a_pba_without_the_session_mac_is_dropped():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    out = net.mags[MAG1].detach(MN, net.now)
    pbu = mh.decode(out.datagrams[0].data)
    forged = BindingAck(
        status=0,
        sequence=pbu.sequence,
        lifetime=0,
        proxy=True,
        options=(MobileNodeIdentifier(identifier=MN),),
    )
    data = mh.encode(forged, src=IPv6Address(LMA), dst=IPv6Address(MAG1))
    events = net.mags[MAG1].receive(data, LMA, net.now).events
    assert [(e.kind, e.detail["reason"]) for e in events] == [("dropped", "bad-mac")]
    assert net.mags[MAG1].bul[MN].state == "deregistering"


def test_claimed_prefixes_must_be_whole_prefixes_of_the_pool():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    entry = net.mags[MAG1].bul[MN]
    for claim in ("2001:db8:8000::/40", "2001:db8:8085:a57c::5/128", "2001:db8:9000::/64"):
        net.lma.cache.clear()
        net.lma._owners.clear()
        net.mags[MAG1].bul[MN] = entry
        entry.prefix = IPv6Network(claim)
        entry.state = "registering"
        start = len(net.events)
        out = Output()
        net.mags[MAG1]._send(entry, net.now, out)
        net.take(out, MAG1)
        net.run()
        failed = [e for e in net.events[start:] if e.kind == "registration-failed"]
        assert [e.detail["status"] for e in failed] == [155], claim


def test_a_restarted_lma_gives_a_mobile_node_its_prefix_again():
    first = build({MAG1: b"mag-good"})
    attach(first, MAG1)
    again = build({MAG1: b"mag-good"})
    # someone else registers first after the restart
    again.take(again.mags[MAG1].attach(b"other@apmip.example", WLAN, again.now), MAG1)
    again.run()
    attach(again, MAG1)
    assert again.lma.cache[MN].prefix == first.lma.cache[MN].prefix


def test_a_bad_attach_command_leaves_no_state():
    net = build({MAG1: b"mag-good"})
    for mn, att, handoff in ((MN, 300, 1), (MN, -1, 1), (b"x" * 300, 4, 1), (MN, 4, 256)):
        with pytest.raises(EncodeError):
            net.mags[MAG1].attach(mn, att, net.now, handoff)
    assert net.mags[MAG1].bul == {} and net.queue == []


def test_a_flood_of_malformed_packets_logs_a_few_lines_then_says_it_stops(caplog):
    net = build({MAG1: b"mag-good"})
    caplog.set_level("DEBUG", logger="apmip.core")
    for i in range(50):
        net.lma.receive(b"\x3b\x01\x05", MAG1, net.now + i * 0.01)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 6
    assert warnings[0].startswith(f"dropped malformed message from {MAG1}: ")
    assert warnings[5] == (
        f"more malformed messages from {MAG1} in this minute are logged at debug level"
    )
    assert net.lma.counters["rx_malformed"] == 50  # every one is still counted
    caplog.clear()
    net.lma.receive(b"\x3b\x01\x05", MAG1, net.now + 61.0)  # a new minute
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_garbage_evidence_from_a_trusted_address_neither_ends_the_session_nor_spends_nonces():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    key = net.lma.trust.peers[MAG1].key
    for i in range(3):
        spoofer = build({MAG1: b"mag-tampered"}).mags[MAG1]  # on the MAG's address, no key
        out = spoofer.attach(f"s{i}@x".encode(), WLAN, net.now)
        reply = net.lma.receive(out.datagrams[0].data, MAG1, net.now)
        assert mh.decode(reply.datagrams[0].data).status == 220
        net.now += 0.01
        answer = spoofer.receive(reply.datagrams[0].data, LMA, net.now)
        refusal = net.lma.receive(answer.datagrams[0].data, MAG1, net.now)
        assert mh.decode(refusal.datagrams[0].data).status == 221
    # the genuine MAG's session and key are intact, and its refresh is accepted with a MAC
    assert net.lma.trust.peers[MAG1].key == key
    events = net.advance(31.0)
    assert "binding-refreshed" in kinds(events) and "challenge-sent" not in kinds(events)


def test_replies_to_unauthenticated_pbus_carry_no_mac():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    stale = BindingUpdate(
        sequence=9,
        lifetime=0,
        ack=True,
        proxy=True,
        options=(MobileNodeIdentifier(identifier=MN), Timestamp.from_seconds(net.now - 100)),
    )
    data = mh.encode(stale, src=IPv6Address(MAG1), dst=IPv6Address(LMA))
    reply = net.lma.receive(data, MAG1, net.now).datagrams[0].data
    assert mh.decode(reply).status == 156  # refused for its timestamp, before any MAC check
    assert mac_span(reply, 32473) is None
    # the genuine MAG would drop such an answer to a MAC'd PBU
    assert not session.verify(reply, net.lma.trust.peers[MAG1].key, session.TO_MAG, 32473)


def test_a_pbu_replayed_after_its_binding_was_deleted_is_refused():
    net = build({MAG1: b"mag-good"}, timestamp_window=5.0)
    attach(net, MAG1)
    registration = mh.decode(net.wire_log[-2][2])
    assert isinstance(registration, BindingUpdate) and registration.lifetime > 0
    detach(net, MAG1)
    net.advance(1.5)  # past min_delay_before_delete: the entry is gone
    assert MN not in net.lma.cache
    out = net.lma.receive(net.wire_log[-4][2], MAG1, net.now)
    assert [mh.decode(d.data).status for d in out.datagrams] in ([157], [220])
    assert MN not in net.lma.cache


def test_mobile_nodes_attaching_together_share_one_first_contact():
    net = build({MAG1: b"mag-good"})
    mag = net.mags[MAG1]
    nodes = [f"n{i}@apmip.example".encode() for i in range(5)]
    for node in nodes:
        net.take(mag.attach(node, WLAN, net.now), MAG1)
    net.run()
    assert all(mag.bul[n].state == "registered" for n in nodes)
    assert len(net.lma.cache) == 5
    # one challenge, one appraisal each way, one session key; the rest rode on the session
    assert net.lma.counters["challenges"] == 1
    assert (net.lma.trust.peers[MAG1].appraisals, mag.trust.peers[LMA].appraisals) == (1, 1)
    assert kinds(net.events).count("waiting") == 4


def test_a_forged_challenge_costs_an_appraisal_never_a_binding():
    net = build({MAG1: b"mag-good"})
    attach(net, MAG1)
    mag = net.mags[MAG1]
    net.advance(31.0)  # refresh: the PBU goes out MAC'd
    entry = mag.bul[MN]
    assert entry.state == "registered"
    entry.state = "registering"  # a refresh in flight
    out = Output()
    mag._send(entry, net.now, out)
    # a forged 220 without a nonce, and a forged status 0 with another prefix: both dropped
    other = HomeNetworkPrefix(prefix=IPv6Network("2001:db8:dead::/64"))
    for status, options in ((220, ()), (0, (other,))):
        forged = BindingAck(
            status=status,
            sequence=entry.sequence,
            lifetime=1000,
            proxy=True,
            options=(MobileNodeIdentifier(identifier=MN), *options),
        )
        data = mh.encode(forged, src=IPv6Address(LMA), dst=IPv6Address(MAG1))
        events = mag.receive(data, LMA, net.now).events
        assert [(e.kind, e.detail["reason"]) for e in events] == [("dropped", "bad-mac")]
    assert mag.bul[MN].prefix == net.lma.cache[MN].prefix
    assert mag.trust.session_key(LMA, net.now) != b""
    # the genuine answer still lands
    net.take(out, MAG1)
    net.run()
    assert mag.bul[MN].state == "registered" and mag.bul[MN].lifetime == 40.0
