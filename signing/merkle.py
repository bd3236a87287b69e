"""RFC 9162 (Certificate Transparency v2, the same tree as RFC 6962) Merkle hashing and the
proof verifiers: what anyone holding a proof needs to check it. hashlib only.

Why here, apart from the tree: the axis builds proofs (`axis.audit.merkle`) and an agency
checks them (`adapters.client`), without the server; both must hash bit for bit alike, so
the hashes and the verifiers live once, beside the checkpoint signatures they are checked
against (`signing.checkpoints`).

The verifiers are the RFC 9162 section 2.1.3.2 and 2.1.4.2 algorithms, step for step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash here (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of nothing: the root of the empty tree (RFC 9162 section 2.1.1)."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the prefix keeps a leaf from passing for an inner node."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_hash(digest: object) -> bool:
    return isinstance(digest, bytes) and len(digest) == HASH_SIZE


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does `proof` put `leaf_hash` at `index` under `root`?

    Every hash must be 32 bytes; a wrong index or size, or a node too many or too few, fails.
    """
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of `old_size` leaves under `old_root` a prefix
    of the one of `new_size` under `new_root`?

    Outside the RFC's 0 < old_size < new_size: equal sizes need an empty proof and equal
    roots; old size 0 needs an empty proof and `old_root` == `EMPTY_ROOT` (as does a new
    size of 0), since every tree extends the empty one.
    """
    if not (isinstance(old_size, int) and isinstance(new_size, int)):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(p) for p in proof)):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    # 1. An empty proof fails.
    if not proof:
        return False
    # 2. A power-of-two old tree is a node of the new one: its root starts the path.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3.-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.-6.
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
    # 7.
    return fr == old_root and sr == new_root and sn == 0
