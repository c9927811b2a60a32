"""RFC 9162 Merkle trees (trust/audit/merkle.py): the tree head against the RFC's recursive
definition, and inclusion and consistency proofs that verify, and fail when anything changes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, word for word (on leaf data, not leaf hashes)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def data(n: int) -> list[bytes]:
    return [f"event {i}".encode() for i in range(n)]


@given(st.integers(0, 70))
def test_the_tree_head_is_the_rfcs(n: int) -> None:
    leaves = data(n)
    assert root_from_leaf_hashes([leaf_hash(d) for d in leaves]) == mth(leaves)


def test_known_values() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert root_from_leaf_hashes([a, b, c]) == node_hash(node_hash(a, b), c)
    # The empty tree's head is SHA-256 of nothing (RFC 9162 2.1.1).
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not(case: tuple[int, int]) -> None:
    n, index = case
    hashes = [leaf_hash(d) for d in data(n)]
    root = root_from_leaf_hashes(hashes)
    proof = inclusion_proof(index, hashes)
    assert verify_inclusion(hashes[index], index, n, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), index, n, proof, root)
    if n > 1:
        assert not verify_inclusion(hashes[index], (index + 1) % n, n, proof, root)
        bad = [bytes(32), *proof[1:]] if proof else proof
        assert not verify_inclusion(hashes[index], index, n, bad, root)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_every_consistency_proof_verifies_and_a_rewrite_does_not(case: tuple[int, int]) -> None:
    m, n = case
    hashes = [leaf_hash(d) for d in data(n)]
    old_root, new_root = root_from_leaf_hashes(hashes[:m]), root_from_leaf_hashes(hashes)
    proof = consistency_proof(m, hashes)
    assert verify_consistency(m, n, old_root, new_root, proof)
    # A log that changed one old leaf and recomputed everything: its new head is not consistent.
    rewritten = list(hashes)
    rewritten[m - 1] = leaf_hash(b"rewritten")
    forged_root = root_from_leaf_hashes(rewritten)
    if m < n:
        assert not verify_consistency(m, n, old_root, forged_root, consistency_proof(m, rewritten))
        assert not verify_consistency(m, n, old_root, new_root, [])
    assert not verify_consistency(m, n, leaf_hash(b"other"), new_root, proof)


def test_proofs_refuse_impossible_requests() -> None:
    hashes = [leaf_hash(d) for d in data(3)]
    with pytest.raises(ValueError):
        inclusion_proof(3, hashes)
    with pytest.raises(ValueError):
        consistency_proof(0, hashes)
    assert not verify_inclusion(hashes[0], 5, 3, [], root_from_leaf_hashes(hashes))
    assert not verify_consistency(4, 3, EMPTY_ROOT, EMPTY_ROOT, [])


@given(st.integers(0, 130))
def test_the_frontier_gives_the_same_head_at_every_size(n: int) -> None:
    from trust.audit.merkle import frontier_append, frontier_root, frontier_size

    hashes = [leaf_hash(d) for d in data(n)]
    frontier: list = []
    assert frontier_root(frontier) == EMPTY_ROOT
    for i, h in enumerate(hashes, start=1):
        frontier_append(frontier, h)
        assert frontier_size(frontier) == i
    assert frontier_root(frontier) == root_from_leaf_hashes(hashes)
