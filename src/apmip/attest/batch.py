"""One quote for many challenges: a Merkle tree over qualifying data.

A hardware TPM needs tens to hundreds of milliseconds per quote. When several challenges are
waiting (many mobile nodes registering through one MAG, several MAGs challenging one LMA), the
attester answers them all with one quote whose extraData is the root of a Merkle tree over
their qualifying data (:func:`apmip.attest.binding.qualifying_data`, one leaf per challenge),
and each reply carries its leaf's position and inclusion path. The verifier recomputes the root
from the qualifying data *it* expects and the path, and compares that root with extraData: the
binding to nonce, peer, mobile node and sequence number is exactly as strong as for a single
quote, because a path proves one leaf and the leaf is the full qualifying data.

The tree is the one of RFC 9162 (Certificate Transparency 2.0) section 2.1: leaves hashed as
SHA-256(0x00 || leaf), interior nodes as SHA-256(0x01 || left || right), so a leaf can never
pass for a node; a tree of n leaves splits at the largest power of two below n. Inclusion paths
are verified with the algorithm of section 2.1.3.2.

The proof travels in the evidence as extra type 2: leaf index (u32), tree size (u32), path
length (u8), then the path's 32-byte hashes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from apmip.errors import EvidenceError

EXTRA_BATCH = 2
MAX_LEAVES = 1 << 16
MAX_PATH = 16  # enough for MAX_LEAVES
_HEAD = struct.Struct(">IIB")


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 section 2.1.1 over the leaves (at least one)."""
    if not leaves:
        raise EvidenceError("Merkle tree: no leaves")
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(leaves: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1: the siblings from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise EvidenceError(f"Merkle tree: leaf {index} outside 0..{len(leaves) - 1}")
    if len(leaves) == 1:
        return ()
    k = _split(len(leaves))
    if index < k:
        return (*inclusion_path(leaves[:k], index), merkle_root(leaves[k:]))
    return (*inclusion_path(leaves[k:], index - k), merkle_root(leaves[:k]))


def all_paths(leaves: Sequence[bytes]) -> tuple[bytes, tuple[tuple[bytes, ...], ...]]:
    """The root and every leaf's inclusion path in one pass, O(n log n) hashes.

    Built level by level: pairs are hashed and an unpaired last node moves up unchanged. That
    gives the same tree as the recursive definition (its left part is always a complete tree of
    a power-of-two size), so these are the paths :func:`inclusion_path` defines.
    """
    if not leaves:
        raise EvidenceError("Merkle tree: no leaves")
    level = [leaf_hash(leaf) for leaf in leaves]
    paths: list[list[bytes]] = [[] for _ in leaves]
    positions = list(range(len(leaves)))  # each leaf's node index on the current level
    while len(level) > 1:
        for leaf, at in enumerate(positions):
            sibling = at ^ 1
            if sibling < len(level):
                paths[leaf].append(level[sibling])
            positions[leaf] = at // 2
        pairs = range(0, len(level) - 1, 2)
        level = [node_hash(level[i], level[i + 1]) for i in pairs] + (
            [level[-1]] if len(level) % 2 else []
        )
    return level[0], tuple(tuple(p) for p in paths)


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion path leads to (RFC 9162 section 2.1.3.2), or None when the path's
    length does not fit the index and tree size."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


@dataclass(frozen=True)
class BatchProof:
    """Where one reply's qualifying data sits in the tree whose root the quote signed."""

    index: int
    size: int
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.size <= MAX_LEAVES:
            raise EvidenceError(
                f"batch proof: leaf {self.index} of {self.size} (at most {MAX_LEAVES} leaves)"
            )
        if len(self.path) > MAX_PATH or any(len(p) != 32 for p in self.path):
            raise EvidenceError(
                f"batch proof: path of {len(self.path)} hashes (at most {MAX_PATH}, 32 bytes)"
            )

    def encode(self) -> bytes:
        return _HEAD.pack(self.index, self.size, len(self.path)) + b"".join(self.path)

    @classmethod
    def decode(cls, data: bytes) -> BatchProof:
        if len(data) < _HEAD.size:
            raise EvidenceError(f"batch proof: {len(data)} bytes, the header alone is 9")
        index, size, count = _HEAD.unpack_from(data)
        if len(data) != _HEAD.size + 32 * count:
            raise EvidenceError(
                f"batch proof: {len(data)} bytes for {count} path hashes "
                f"(expected {_HEAD.size + 32 * count})"
            )
        path = tuple(data[9 + 32 * i : 41 + 32 * i] for i in range(count))
        return cls(index, size, path)

    def root(self, leaf: bytes) -> bytes | None:
        return root_from_path(leaf, self.index, self.size, self.path)
