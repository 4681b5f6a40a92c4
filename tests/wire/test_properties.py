"""Property tests: round trips both ways, and that bad input only ever raises DecodeError."""

from __future__ import annotations

import contextlib
import ipaddress

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apmip.errors import DecodeError, EncodeError
from apmip.wire import Message, decode, encode, read_attestation
from apmip.wire.attestation import attestation_options

from .strategies import messages, wire_messages

SRC = ipaddress.IPv6Address("2001:db8::1")
DST = ipaddress.IPv6Address("2001:db8::2")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _encode(message: Message, **kw: ipaddress.IPv6Address) -> bytes:
    try:
        return encode(message, **kw)
    except EncodeError:
        assume(False)  # more than 2048 bytes: not a valid message
        raise


@SETTINGS
@given(messages)
def test_decode_encode_gives_the_message_back(message: Message) -> None:
    data = _encode(message)
    assert len(data) % 8 == 0 and len(data) <= 2048
    again = decode(data)
    assert again == message
    assert type(again) is type(message)
    assert encode(again) == data


@SETTINGS
@given(messages)
def test_round_trip_with_checksum(message: Message) -> None:
    data = _encode(message, src=SRC, dst=DST)
    assert decode(data, src=SRC, dst=DST) == message


@SETTINGS
@given(wire_messages())
def test_encode_decode_gives_the_bytes_back(data: bytes) -> None:
    message = decode(data)
    assert encode(message) == data
    # and a second trip changes nothing either (padding does not grow)
    assert encode(decode(encode(message))) == data
    # a fresh encoding of the same values decodes to the same values
    assert decode(encode_fresh(message)) == message


def encode_fresh(message: Message) -> bytes:
    import dataclasses

    return encode(dataclasses.replace(message))  # replace() drops the kept wire bytes


mutations = st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), min_size=1, max_size=6)


@SETTINGS
@given(st.one_of(wire_messages(), messages.map(lambda m: _safe_encode(m))), mutations, st.data())
def test_mutated_or_truncated_input_only_raises_decode_error(
    data: bytes, changes: list[tuple[int, int]], draw: st.DataObject
) -> None:
    assume(data)
    mutated = bytearray(data)
    for position, value in changes:
        mutated[position % len(mutated)] = value
    cut = draw.draw(st.integers(0, len(mutated) + 8))
    candidates = [bytes(mutated), bytes(mutated[:cut]), bytes(mutated) + bytes(cut % 9)]
    for candidate in candidates:
        for kw in ({}, {"src": SRC, "dst": DST}):
            try:
                message = decode(candidate, **kw)  # type: ignore[arg-type]
            except DecodeError:
                continue
            # whatever decodes re-encodes to the same bytes (checksum rule aside)
            assert encode(message, **kw)[6:] == candidate[6:]  # type: ignore[arg-type]
            with contextlib.suppress(DecodeError):
                read_attestation(message)


def _safe_encode(message: Message) -> bytes:
    try:
        return encode(message)
    except EncodeError:
        return b""


@SETTINGS
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        message = decode(data)
    except DecodeError:
        return
    assert encode(message)[6:] == data[6:]


@SETTINGS
@given(st.binary(min_size=1, max_size=1700), st.none() | st.binary(min_size=16, max_size=64))
def test_attestation_round_trip(evidence: bytes, nonce: bytes | None) -> None:
    from apmip.wire import AttestationRequest, BindingAck

    request = AttestationRequest(nonce) if nonce is not None else None
    message = BindingAck(0, 1, 1, proxy=True, options=attestation_options(request, evidence))
    data = _encode(message)
    found = read_attestation(decode(data))
    assert found.evidence == evidence and found.request == request
