"""Qualifying data and the evidence container: vectors and strict parsing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apmip.attest.binding import SignallingContext, qualifying_data
from apmip.attest.events import EventHint
from apmip.attest.evidence import Evidence, PcrValue
from apmip.errors import AttestationError, EvidenceError


def test_context_encoding_vector() -> None:
    ctx = SignallingContext("mag", "2001:DB8::0001", "2001:db8::100", b"mn1", 7)
    assert ctx.encode() == (
        b"\x03mag" + b"\x0b2001:db8::1" + b"\x0d2001:db8::100" + b"\x03mn1" + b"\x00\x07"
    )


def test_qualifying_data_vector() -> None:
    ctx = SignallingContext("lma", "192.0.2.1", "192.0.2.2", b"", 65535)
    nonce = bytes(range(16))
    expected = hashlib.sha256(
        b"apmip attestation qualifying data v1\x00"
        + b"\x00\x10"
        + nonce
        + b"\x03lma\x09192.0.2.1\x09192.0.2.2\x00\xff\xff"
    ).digest()
    assert qualifying_data(nonce, ctx) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "mn"}, "role 'mn' not in ('mag', 'lma')"),
        ({"sequence": 65536}, "sequence 65536 outside 0..65535"),
        ({"sender": ""}, "sender must be 1..255 bytes"),
        ({"mn_id": b"x" * 256}, "mn_id 256 bytes > 255"),
    ],
)
def test_context_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "role": "mag",
        "sender": "a",
        "receiver": "b",
        "mn_id": b"m",
        "sequence": 1,
    }
    with pytest.raises(AttestationError) as info:
        SignallingContext(**{**base, **kwargs})  # type: ignore[arg-type]
    assert message in str(info.value)


def test_nonce_length_is_bounded() -> None:
    ctx = SignallingContext("mag", "a", "b", b"", 0)
    with pytest.raises(AttestationError, match=r"nonce of 7 bytes outside 8\.\.64"):
        qualifying_data(b"\x00" * 7, ctx)


SAMPLE = Evidence(
    attest=b"\xaa" * 5,
    signature=b"\xbb" * 3,
    ak_cert_digest=b"\xcc" * 32,
    pcr_values=(PcrValue("sha256", 7, b"\x01" * 32), PcrValue("sha1", 0, b"\x02" * 20)),
    hints=(EventHint(13, b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"),),
    extras=((9, b"xyz"),),
)
SAMPLE_BYTES = (
    b"\x01"
    + b"\x00\x05"
    + b"\xaa" * 5
    + b"\x00\x03"
    + b"\xbb" * 3
    + b"\xcc" * 32
    + b"\x02"
    + b"\x00\x0b\x07"
    + b"\x01" * 32
    + b"\x00\x04\x00"
    + b"\x02" * 20
    + b"\x02"
    + b"\x01\x00\x09"
    + b"\x0d\x01\x02\x03\x04\x05\x06\x07\x08"
    + b"\x09\x00\x03xyz"
)


def test_evidence_vector() -> None:
    assert SAMPLE.to_bytes() == SAMPLE_BYTES
    assert Evidence.from_bytes(SAMPLE_BYTES) == SAMPLE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            SAMPLE_BYTES + b"\x00",
            "evidence: end at offset 123: 1 trailing bytes after a 123-byte structure",
        ),
        (b"\x02" + SAMPLE_BYTES[1:], "version at offset 0: 2 is not the supported version 1"),
        (SAMPLE_BYTES[:-1], "extra[1].buffer at offset 120: needs 3 bytes, only 2 left"),
        (
            SAMPLE_BYTES[:46] + b"\x00\x05" + SAMPLE_BYTES[48:],
            "pcr[0].hash at offset 46: hash algorithm 0x0005 unknown",
        ),
        (
            SAMPLE_BYTES[:45] + b"\x61" + SAMPLE_BYTES[46:],
            "pcr_count at offset 45: 97 exceeds the maximum 96",
        ),
    ],
)
def test_evidence_strictness(data: bytes, message: str) -> None:
    with pytest.raises(EvidenceError) as info:
        Evidence.from_bytes(data)
    assert message in str(info.value)


def test_describe_reports_parse_errors_without_raising() -> None:
    view = SAMPLE.describe()
    assert view["size"] == len(SAMPLE_BYTES)
    assert view["attest"]["error"] == ("TPMS_ATTEST: type at offset 4: needs 2 bytes, only 1 left")
    assert view["signature"]["error"] == (
        "TPMT_SIGNATURE: sigAlg at offset 0: scheme 0xbbbb is not ECDSA, RSASSA or RSAPSS"
    )
    assert view["pcrs"][1] == {"bank": "sha1", "index": 0, "value": "02" * 20}


@given(
    attest=st.binary(min_size=1, max_size=300),
    signature=st.binary(min_size=1, max_size=300),
    values=st.lists(
        st.tuples(st.sampled_from(["sha1", "sha256"]), st.integers(0, 23)), max_size=8
    ),
    hints=st.lists(st.tuples(st.integers(0, 23), st.binary(min_size=4, max_size=4)), max_size=20),
)
def test_evidence_round_trip(
    attest: bytes, signature: bytes, values: list[tuple[str, int]], hints: list[tuple[int, bytes]]
) -> None:
    sizes = {"sha1": 20, "sha256": 32}
    evidence = Evidence(
        attest,
        signature,
        b"\x00" * 32,
        tuple(PcrValue(bank, i, bytes([i]) * sizes[bank]) for bank, i in values),
        tuple(EventHint(p, t, t[::-1]) for p, t in hints),
    )
    data = evidence.to_bytes()
    assert Evidence.from_bytes(data) == evidence
    with pytest.raises(EvidenceError):
        Evidence.from_bytes(data[:-1])
