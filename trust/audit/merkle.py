"""Merkle tree hashing, inclusion proofs and consistency proofs as in RFC 9162 (Certificate
Transparency 2.0), section 2.1. Pure functions over bytes: no Django, no database.

The audit log's leaves are its events in their global order; a signed tree head commits to the
first ``size`` of them. An inclusion proof shows that one event is among them; a consistency proof
that a later tree head extends an earlier one (nothing before it was changed, removed or
reordered).

``tools/verify_bundle.py`` has its own implementation of the same algorithms on purpose: an
auditor's verifier should not share code with the system it checks, so that one bug cannot hide
itself in both. A test checks that the two agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``HASH(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``HASH(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree head of ``hashes`` (already leaf-hashed), level by level: an odd node at the end
    of a level moves up unchanged, which gives the RFC's tree (left subtrees are the largest
    powers of two)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        pairs = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, for leaf ``index`` of the tree of ``hashes``."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, hashes[:k]), root_from_leaf_hashes(hashes[k:])]
    return [*inclusion_proof(index - k, hashes[k:]), root_from_leaf_hashes(hashes[:k])]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show that the leaf hash ``leaf`` is leaf ``index`` of the
    tree of ``size`` leaves with head ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: that the tree of the first ``old_size`` leaves is a
    prefix of the tree of ``hashes``."""
    n = len(hashes)
    if not 0 < old_size <= n:
        raise ValueError(f"no consistency proof from {old_size} to {n}")

    def sub(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
        size = len(leaves)
        if m == size:
            return [] if complete else [root_from_leaf_hashes(leaves)]
        k = _split(size)
        if m <= k:
            return [*sub(m, leaves[:k], complete), root_from_leaf_hashes(leaves[k:])]
        return [*sub(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]

    return sub(old_size, hashes, True)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show that the tree of ``new_size`` leaves with head
    ``new_root`` extends the tree of ``old_size`` leaves with head ``old_root``?"""
    if old_size < 1 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- incremental tree heads --------------------------------------------------------------------
# A tree of n leaves is a row of complete subtrees, one per set bit of n, largest first. Keeping
# their roots (the "frontier": height and hash of each) lets a checkpoint add the new leaves and
# compute the head without reading the old ones.

Frontier = list[tuple[int, bytes]]


def frontier_append(frontier: Frontier, leaf: bytes) -> None:
    """Add the leaf hash ``leaf`` to ``frontier`` (in place)."""
    height, node = 0, leaf
    while frontier and frontier[-1][0] == height:
        _, left = frontier.pop()
        node = node_hash(left, node)
        height += 1
    frontier.append((height, node))


def frontier_root(frontier: Frontier) -> bytes:
    """The tree head of the leaves ``frontier`` was built from."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1][1]
    for _, node in reversed(frontier[:-1]):
        root = node_hash(node, root)
    return root


def frontier_size(frontier: Frontier) -> int:
    return sum(1 << height for height, _ in frontier)
