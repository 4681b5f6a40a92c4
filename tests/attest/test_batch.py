"""One quote for many challenges: the Merkle tree, inclusion paths, and batched evidence."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from apmip.attest.batch import (
    EXTRA_BATCH,
    BatchProof,
    all_paths,
    inclusion_path,
    merkle_root,
    root_from_path,
)
from apmip.attest.binding import EXTRA_CLAIM, encode_claim
from apmip.attest.evidence import Evidence
from apmip.attest.verifier import Verifier
from apmip.errors import EvidenceError

from .conftest import CONTEXT, NONCE, Node


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_tree_by_hand() -> None:
    a, b, c = b"a", b"b", b"c"
    la, lb, lc = _h(b"\x00a"), _h(b"\x00b"), _h(b"\x00c")
    assert merkle_root([a]) == la
    assert merkle_root([a, b]) == _h(b"\x01" + la + lb)
    # three leaves split 2 + 1 (RFC 9162 section 2.1.1)
    assert merkle_root([a, b, c]) == _h(b"\x01" + _h(b"\x01" + la + lb) + lc)
    assert inclusion_path([a, b, c], 2) == (_h(b"\x01" + la + lb),)
    assert inclusion_path([a, b, c], 0) == (lb, lc)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_every_path_leads_to_the_root_and_only_for_its_leaf(size: int) -> None:
    leaves = [bytes([i]) * 32 for i in range(size)]
    root = merkle_root(leaves)
    assert all_paths(leaves) == (root, tuple(inclusion_path(leaves, i) for i in range(size)))
    for index in range(size):
        path = inclusion_path(leaves, index)
        assert root_from_path(leaves[index], index, size, path) == root
        other = leaves[(index + 1) % size]
        if size > 1:
            assert root_from_path(other, index, size, path) != root
            assert root_from_path(leaves[index], (index + 1) % size, size, path) != root
    assert root_from_path(leaves[0], size, size, ()) is None
    if size > 1:
        too_long = (*inclusion_path(leaves, 0), b"\x00" * 32)
        assert root_from_path(leaves[0], 0, size, too_long) is None


def test_proof_encoding_and_strictness() -> None:
    proof = BatchProof(2, 3, (b"\x11" * 32,))
    data = proof.encode()
    assert data == bytes.fromhex("000000020000000301") + b"\x11" * 32
    assert BatchProof.decode(data) == proof
    with pytest.raises(EvidenceError, match="41 bytes for 2 path hashes"):
        BatchProof.decode(data[:8] + b"\x02" + data[9:])
    with pytest.raises(EvidenceError, match="leaf 3 of 3"):
        BatchProof.decode(bytes.fromhex("000000030000000300"))


CONTEXTS = [dataclasses.replace(CONTEXT, mn_id=f"mn{i}".encode(), sequence=i) for i in range(5)]
NONCES = [bytes([i]) * 16 for i in range(5)]


def test_one_quote_answers_every_challenge(node: Node, verifier: Verifier) -> None:
    replies = node.local.produce_batch(list(zip(NONCES, CONTEXTS, strict=True)))
    attests = {Evidence.from_bytes(r).attest for r in replies}
    assert len(attests) == 1  # one TPM quote for five replies
    for reply, nonce, context in zip(replies, NONCES, CONTEXTS, strict=True):
        result = verifier.appraise(reply, nonce, context)
        assert (result.verdict, result.reason) == ("accept", "ok")
    # each reply proves only its own challenge
    result = verifier.appraise(replies[1], NONCES[2], CONTEXTS[2])
    assert (result.reason, result.aspect) == ("replay", "instance-identity")
    assert result.message == (
        f"the quote answers an earlier nonce {NONCES[1].hex()}, not {NONCES[2].hex()}; "
        "it was also bound to mn_id b'mn1', not b'mn2', sequence 1, not 2"
    )
    # without the claimed binding the refusal cannot say more than that the nonce differs
    bare = dataclasses.replace(
        Evidence.from_bytes(replies[1]),
        extras=tuple(e for e in Evidence.from_bytes(replies[1]).extras if e[0] != EXTRA_CLAIM),
    )
    result = verifier.appraise(bare.to_bytes(), NONCES[2], CONTEXTS[2])
    assert (result.reason, result.aspect) == ("nonce", "instance-identity")
    assert "through leaf 1 of 5" in result.message


def test_swapped_or_forged_proof_is_refused(node: Node, verifier: Verifier) -> None:
    replies = node.local.produce_batch(list(zip(NONCES, CONTEXTS, strict=True)))
    first, second = Evidence.from_bytes(replies[0]), Evidence.from_bytes(replies[1])
    # the second reply's proof and claim are genuine for its own challenge, not this one
    swapped = dataclasses.replace(first, extras=second.extras).to_bytes()
    assert verifier.appraise(swapped, NONCES[0], CONTEXTS[0]).reason == "replay"
    proof_only = tuple(e for e in second.extras if e[0] == EXTRA_BATCH)
    swapped = dataclasses.replace(first, extras=proof_only).to_bytes()
    assert verifier.appraise(swapped, NONCES[0], CONTEXTS[0]).reason == "nonce"
    no_proof = dataclasses.replace(first, extras=()).to_bytes()
    assert verifier.appraise(no_proof, NONCES[0], CONTEXTS[0]).reason == "nonce"
    twice = dataclasses.replace(first, extras=first.extras[:1] * 2).to_bytes()
    result = verifier.appraise(twice, NONCES[0], CONTEXTS[0])
    assert (result.reason, result.message) == (
        "malformed",
        "evidence: 2 batch proofs, at most one allowed",
    )
    bad = dataclasses.replace(first, extras=((EXTRA_BATCH, b"\x00" * 8),)).to_bytes()
    assert verifier.appraise(bad, NONCES[0], CONTEXTS[0]).reason == "malformed"


def test_single_evidence_is_unchanged_by_batching(node: Node, verifier: Verifier) -> None:
    (only,) = node.local.produce_batch([(NONCE, CONTEXT)])
    assert verifier.appraise(only, NONCE, CONTEXT).reason == "ok"
    assert Evidence.from_bytes(only).extras == (
        (EXTRA_BATCH, bytes.fromhex("000000000000000100")),
        (EXTRA_CLAIM, encode_claim(NONCE, CONTEXT)),
    )
