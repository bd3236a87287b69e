"""The RFC 9162 Merkle tree: published vectors, agreement with pymerkle (an independent
implementation), every proof up to 33 leaves and its corruptions, and the cached store giving
the same answers with O(log n) reads."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from functools import cache

import pymerkle
import pytest

from axis.audit import merkle
from axis.audit.merkle import (
    EMPTY_ROOT,
    CachedMemoryLeafStore,
    MemoryLeafStore,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


# RFC 6962 test vectors as published in github.com/transparency-dev/merkle, file
# proof/verify_test.go (the `leaves`, `roots`, `inclusionProofs` and `consistencyProofs`
# variables; the same values as certificate-transparency's merkle_tree_test). The Go file
# numbers leaves from 1 in `inclusionProofs`; the indices below are from 0.
VECTOR_ENTRIES = [
    h(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
VECTOR_ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
VECTOR_INCLUSION: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
VECTOR_CONSISTENCY: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def entries(count: int, tag: str = "e") -> list[bytes]:
    """Distinct entries, so no two proof nodes are equal by accident."""
    return [f"{tag}{i}".encode() for i in range(count)]


def flip(digest: bytes, bit: int) -> bytes:
    changed = bytearray(digest)
    changed[bit >> 3] ^= 1 << (bit & 7)
    return bytes(changed)


# --- vectors -----------------------------------------------------------------------------------


def test_hash_primitives_match_the_rfc() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == VECTOR_ROOTS[0], "a one-leaf tree's root is its leaf hash"
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")) == VECTOR_ROOTS[1]
    assert MerkleTree().root() == EMPTY_ROOT


def test_published_vectors_in_memory() -> None:
    tree = MerkleTree.from_entries(VECTOR_ENTRIES)
    assert [tree.root(n) for n in range(1, 9)] == VECTOR_ROOTS
    for index, size, proof in VECTOR_INCLUSION:
        assert tree.inclusion_proof(index, size) == proof
        assert verify_inclusion(tree.leaf(index), index, size, proof, VECTOR_ROOTS[size - 1])
    for old, new, proof in VECTOR_CONSISTENCY:
        assert tree.consistency_proof(old, new) == proof
        old_root, new_root = VECTOR_ROOTS[old - 1], VECTOR_ROOTS[new - 1]
        assert verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize("cache_level", [None, 0, 1, 2, 3])
async def test_published_vectors_from_a_store(cache_level: int | None) -> None:
    hashes = [leaf_hash(e) for e in VECTOR_ENTRIES]
    store = (
        MemoryLeafStore(hashes)
        if cache_level is None
        else CachedMemoryLeafStore(hashes, cache_level=cache_level)
    )
    assert [await root(store, n) for n in range(1, 9)] == VECTOR_ROOTS
    assert await root(store, 0) == EMPTY_ROOT
    for index, size, proof in VECTOR_INCLUSION:
        assert await inclusion_proof(store, index, size) == proof
    for old, new, proof in VECTOR_CONSISTENCY:
        assert await consistency_proof(store, old, new) == proof


# --- pymerkle ----------------------------------------------------------------------------------


def pymerkle_tree(data: Sequence[bytes]) -> pymerkle.InmemoryTree:
    # disable_security=False (the default, spelt out) gives RFC 6962's 0x00/0x01 prefixes.
    tree = pymerkle.InmemoryTree(algorithm="sha256", disable_security=False)
    for entry in data:
        tree.append_entry(entry)
    return tree


def rfc_reference(
    data: Sequence[bytes],
) -> tuple[
    Callable[[int, int], bytes],
    Callable[[int, int], list[bytes]],
    Callable[[int, int], list[bytes]],
]:
    """MTH, PATH and PROOF written straight from RFC 9162 section 2.1 (recursive, on leaf
    ranges), the MTH of a complete subtree computed by pymerkle on a tree of just that range."""

    @cache
    def mth(start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0:  # a complete subtree: pymerkle's root of just those entries
            return bytes(pymerkle_tree(data[start:end]).get_root())
        k = k_of(n)
        return hashlib.sha256(b"\x01" + mth(start, start + k) + mth(start + k, end)).digest()

    def k_of(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = k_of(n)
        if m < k:
            return [*path(m, start, start + k), mth(start + k, end)]
        return [*path(m - k, start + k, end), mth(start, start + k)]

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [mth(start, end)]
        k = k_of(n)
        if m <= k:
            return [*subproof(m, start, start + k, whole), mth(start + k, end)]
        return [*subproof(m - k, start + k, end, False), mth(start, start + k)]

    return (
        mth,
        lambda index, size: path(index, 0, size),
        lambda old, new: subproof(old, 0, new, True),
    )


def test_pymerkle_agrees_for_every_size_up_to_64() -> None:
    data = entries(64)
    ours = MerkleTree.from_entries(data)
    theirs = pymerkle_tree(data)
    mth, path, subproof = rfc_reference(data)
    for size in range(1, 65):
        assert ours.root(size) == theirs.get_root(size) == mth(0, size)
        for index in range(size):
            proof = ours.inclusion_proof(index, size)
            their_proof = theirs.prove_inclusion(index + 1, size)
            assert their_proof.path[0] == ours.leaf(index)
            assert proof == their_proof.path[1:] == path(index, size)
        for old in range(1, size + 1):
            proof = ours.consistency_proof(old, size)
            assert proof == (subproof(old, size) if old < size else [])
            # pymerkle's own (differently laid out) proof holds against our roots.
            pymerkle.verify_consistency(
                ours.root(old), ours.root(size), theirs.prove_consistency(old, size)
            )


async def test_pymerkle_agrees_on_random_pairs_in_a_larger_tree() -> None:
    rng = random.Random(9162)
    data = entries(2000, "r")
    ours = MerkleTree.from_entries(data)
    theirs = pymerkle_tree(data)
    mth, path, subproof = rfc_reference(data)
    store = CachedMemoryLeafStore([ours.leaf(i) for i in range(len(data))], cache_level=4)
    for _ in range(60):
        size = rng.randint(1, len(data))
        index = rng.randrange(size)
        old = rng.randint(1, size)
        assert ours.root(size) == theirs.get_root(size) == await root(store, size)
        proof = ours.inclusion_proof(index, size)
        assert proof == theirs.prove_inclusion(index + 1, size).path[1:] == path(index, size)
        assert proof == await inclusion_proof(store, index, size)
        proof = ours.consistency_proof(old, size)
        assert proof == (subproof(old, size) if old < size else [])
        assert proof == await consistency_proof(store, old, size)
        assert verify_consistency(old, size, ours.root(old), ours.root(size), proof)
        pymerkle.verify_consistency(
            ours.root(old), ours.root(size), theirs.prove_consistency(old, size)
        )
    assert mth(0, len(data)) == ours.root()


# --- every proof up to 33 leaves, and its corruptions -----------------------------------------

LIMIT = 33
TREE = MerkleTree.from_entries(entries(2 * LIMIT + 2))


def inclusion_shape(index: int, size: int) -> tuple[bool, ...]:
    """Which side each sibling is on: all the RFC verifier can know about (index, size)."""
    return tuple(end <= index for _, end in merkle._inclusion_ranges(index, size))


def consistency_shape(old: int, new: int) -> tuple[bool, tuple[bool, ...]]:
    ranges = merkle._consistency_ranges(old, new)
    power_of_two = old & (old - 1) == 0
    siblings = ranges if power_of_two else ranges[1:]
    return power_of_two, tuple(end <= old for _, end in siblings)


def proof_corruptions(proof: list[bytes], every_bit: bool) -> list[list[bytes]]:
    """Each node with one bit flipped (every bit, or one in every byte), each node dropped,
    a node inserted at each place (garbage, or a copy of a neighbour), an empty proof."""
    bad: list[list[bytes]] = []
    for i, node in enumerate(proof):
        bits = range(256) if every_bit else [byte * 8 + byte % 8 for byte in range(32)]
        bad += [[*proof[:i], flip(node, bit), *proof[i + 1 :]] for bit in bits]
        bad.append(proof[:i] + proof[i + 1 :])
    for i in range(len(proof) + 1):
        for extra in (SOME_HASH, *proof[max(i - 1, 0) : i + 1]):
            bad.append([*proof[:i], extra, *proof[i:]])
    return bad


def test_every_inclusion_proof_up_to_33_verifies_and_every_corruption_fails() -> None:
    checked = 0
    for size in range(1, LIMIT + 1):
        top = TREE.root(size)
        for index in range(size):
            leaf, proof = TREE.leaf(index), TREE.inclusion_proof(index, size)
            assert verify_inclusion(leaf, index, size, proof, top)
            for bad in proof_corruptions(proof, every_bit=size <= 8):
                assert not verify_inclusion(leaf, index, size, bad, top), (index, size, bad)
                checked += 1
            bit = (index * 37 + size) % 256
            assert not verify_inclusion(flip(leaf, bit), index, size, proof, top)
            assert not verify_inclusion(leaf, index, size, proof, flip(top, bit))
            assert not verify_inclusion(TREE.leaf(index + 1), index, size, proof, top)
            assert not verify_inclusion(leaf, index, size, proof, TREE.root(size + 1))
            # Another index or size: RFC 9162 binds the size only through the signed tree
            # head, so a proof also verifies for an (index, size) whose path has exactly the
            # same shape (e.g. (0, 3) and (0, 4)); it must fail for every other one.
            claims = {(index + d, size + e) for d in (-2, -1, 0, 1, 2) for e in (-1, 0, 1)}
            claims |= {(index ^ 2, size), (index, size * 2), (index, size // 2), (size, size)}
            claims |= {(-1, size), (index, 0), (index, -size)}
            for other_index, other_size in claims - {(index, size)}:
                same = 0 <= other_index < other_size and inclusion_shape(
                    other_index, other_size
                ) == inclusion_shape(index, size)
                got = verify_inclusion(leaf, other_index, other_size, proof, top)
                assert got == same, (index, size, other_index, other_size)
    assert checked > 30_000


def test_every_consistency_proof_up_to_33_verifies_and_every_corruption_fails() -> None:
    checked = 0
    for new in range(1, LIMIT + 1):
        new_root = TREE.root(new)
        for old in range(1, new + 1):
            old_root, proof = TREE.root(old), TREE.consistency_proof(old, new)
            assert verify_consistency(old, new, old_root, new_root, proof)
            if old == new:
                assert proof == []
                assert not verify_consistency(old, new, old_root, new_root, [SOME_HASH])
                assert not verify_consistency(old, new, old_root, TREE.root(new + 1), [])
                continue
            for bad in proof_corruptions(proof, every_bit=new <= 8):
                assert not verify_consistency(old, new, old_root, new_root, bad), (old, new, bad)
                checked += 1
            bit = (old * 37 + new) % 256
            assert not verify_consistency(old, new, flip(old_root, bit), new_root, proof)
            assert not verify_consistency(old, new, old_root, flip(new_root, bit), proof)
            assert not verify_consistency(old, new, new_root, old_root, proof)
            assert not verify_consistency(old, new, TREE.root(old - 1), new_root, proof)
            claims = {(old + d, new + e) for d in (-2, -1, 0, 1, 2) for e in (-1, 0, 1, 2)}
            claims |= {(old ^ 2, new), (old, new * 2), (old, new // 2), (new, old), (0, new)}
            for other_old, other_new in claims - {(old, new)}:
                same = 0 < other_old < other_new and consistency_shape(
                    other_old, other_new
                ) == consistency_shape(old, new)
                got = verify_consistency(other_old, other_new, old_root, new_root, proof)
                assert got == same, (old, new, other_old, other_new)
    assert checked > 30_000


def test_verifier_edges() -> None:
    one = leaf_hash(b"x")
    assert verify_inclusion(one, 0, 1, [], one)
    for index, size in [(0, 0), (1, 1), (-1, 1), (2, 1), (1, 0)]:
        assert not verify_inclusion(one, index, size, [], one)
    assert not verify_inclusion(b"", 0, 1, [], b""), "hashes must be 32 bytes"
    assert not verify_inclusion(one[:31], 0, 1, [], one[:31])
    assert not verify_inclusion(one, 0, 2, [b"short"], node_hash(one, b"short"))
    assert not verify_inclusion(one, 0, 1, [SOME_HASH], one), "a node too many"
    # Old size 0: every tree extends the empty one, and the proof is empty.
    assert verify_consistency(0, 5, EMPTY_ROOT, TREE.root(5), [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, SOME_HASH, TREE.root(5), [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, SOME_HASH, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, TREE.root(5), [SOME_HASH])
    assert not verify_consistency(3, 2, TREE.root(3), TREE.root(2), [])
    assert not verify_consistency(-1, 2, TREE.root(1), TREE.root(2), [])
    assert not verify_consistency(1, 2, TREE.root(1), TREE.root(2), []), "empty proof"
    assert not verify_consistency(1, 1, b"", b"", [])


# --- the stores --------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_level", [0, 1, 2, 3, 8])
async def test_cached_store_gives_the_same_answers_as_the_uncached_one(cache_level: int) -> None:
    data = entries(40, "c")
    tree = MerkleTree.from_entries(data)
    hashes = [tree.leaf(i) for i in range(len(data))]
    plain, cached = MemoryLeafStore(hashes), CachedMemoryLeafStore(hashes, cache_level)
    # One cached store serves every size, largest first, so subtrees cached for a big tree
    # are reused for smaller ones and the other way round.
    for size in [40, *range(1, 40)]:
        expected = tree.root(size)
        assert await root(plain, size) == await root(cached, size) == expected
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert await inclusion_proof(plain, index, size) == proof
            assert await inclusion_proof(cached, index, size) == proof
        for old in range(size + 1):
            proof = tree.consistency_proof(old, size)
            assert await consistency_proof(plain, old, size) == proof
            assert await consistency_proof(cached, old, size) == proof
    assert all(level >= cache_level for level, _ in cached.subtrees)
    assert cached.subtrees == {
        (level, index): MerkleTree(hashes[index << level : (index + 1) << level]).root()
        for level, index in cached.subtrees
    }


async def test_cached_store_reads_are_logarithmic() -> None:
    size = (1 << 16) + 12_345
    tree = MerkleTree(leaf_hash(i.to_bytes(4, "big")) for i in range(size))
    store = CachedMemoryLeafStore([tree.leaf(i) for i in range(size)])
    level = store.cache_level
    assert level == merkle.CACHE_LEVEL == 8

    assert await root(store, size) == tree.root()
    # Cold: every complete subtree of 256 leaves and up is hashed once and written once.
    assert store.subtree_writes == sum(size >> lv for lv in range(level, 17))
    assert store.leaves_read <= size + 256

    # A proof needs at most one node a level beside its path and one peak a level of the
    # tree's right edge; only those at the cache level and above come from the cache.
    levels_cached = size.bit_length() - level
    rng = random.Random(6962)
    for _ in range(20):
        store.reset_counts()
        assert await root(store, size) == tree.root()
        assert store.leaf_reads <= 1 and store.leaves_read < 256
        assert store.subtree_reads <= bin(size).count("1")
        assert store.subtree_writes == 0

        index = rng.randrange(size)
        store.reset_counts()
        assert await inclusion_proof(store, index, size) == tree.inclusion_proof(index)
        assert store.leaf_reads <= 2 and store.leaves_read <= 2 * 256
        assert store.subtree_reads <= 2 * levels_cached
        assert store.subtree_writes == 0

        old = rng.randint(1, size)
        store.reset_counts()
        assert await consistency_proof(store, old, size) == tree.consistency_proof(old)
        assert store.leaf_reads <= 2 and store.leaves_read <= 2 * 256
        assert store.subtree_reads <= 2 * levels_cached + 1

    # An uncached store reads all leaves, once, in one range.
    plain = MemoryLeafStore(store.hashes)
    assert await inclusion_proof(plain, 5, size) == tree.inclusion_proof(5)
    assert (plain.leaf_reads, plain.leaves_read) == (1, size)


async def test_appending_hashes_only_the_new_subtrees() -> None:
    data = entries(5000, "a")
    tree = MerkleTree.from_entries(data)
    store = CachedMemoryLeafStore([tree.leaf(i) for i in range(3000)], cache_level=4)
    assert await root(store, 3000) == tree.root(3000)
    for i in range(3000, 5000):
        store.append(tree.leaf(i))
    store.reset_counts()
    assert await root(store, 5000) == tree.root(5000)
    new_subtrees = sum((5000 >> lv) - (3000 >> lv) for lv in range(4, 13))
    assert store.subtree_writes == new_subtrees
    assert store.leaves_read <= 2000 + 16


class ShortStore:
    def __init__(self, hashes: list[bytes]) -> None:
        self.hashes = hashes

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return self.hashes[start:end]


async def test_bad_arguments_and_bad_stores_raise() -> None:
    store = MemoryLeafStore(leaf_hash(e) for e in entries(10))
    for call in (
        root(store, -1),
        inclusion_proof(store, 10, 10),
        inclusion_proof(store, -1, 10),
        inclusion_proof(store, 0, 0),
        consistency_proof(store, 5, 4),
        consistency_proof(store, -1, 4),
    ):
        with pytest.raises(ValueError):
            await call
    with pytest.raises(ValueError, match="gave 10 hashes"):
        await root(ShortStore(store.hashes), 11)
    with pytest.raises(ValueError, match="leaf hash 3"):
        await root(ShortStore([*store.hashes[:3], b"abc".hex().encode()]), 4)
    with pytest.raises(ValueError, match="cache_level"):
        await root(CachedMemoryLeafStore(store.hashes, cache_level=-1), 4)
    with pytest.raises(ValueError):
        store.append(b"short")


def test_in_memory_tree() -> None:
    tree = MerkleTree()
    assert [tree.append(e) for e in entries(5)] == [0, 1, 2, 3, 4]
    assert tree.append_leaf_hash(leaf_hash(b"e5")) == 5
    tree.extend(entries(10)[6:])
    other = MerkleTree.from_entries(entries(10))
    assert len(tree) == tree.size == 10
    assert tree.root() == other.root() == MerkleTree([other.leaf(i) for i in range(10)]).root()
    assert [tree.root(n) for n in range(11)] == [other.root(n) for n in range(11)]
    # Answers stay right as the tree grows between calls.
    grown = MerkleTree.from_entries(entries(3))
    for n in range(3, 40):
        assert grown.root() == TREE.root(n)
        assert grown.inclusion_proof(n // 2) == TREE.inclusion_proof(n // 2, n)
        grown.append(f"e{n}".encode())
    for bad in (lambda: tree.root(11), lambda: tree.inclusion_proof(10), lambda: tree.root(-1)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        tree.consistency_proof(11)
    with pytest.raises(ValueError):
        tree.append_leaf_hash(b"\x00" * 31)
    with pytest.raises(ValueError):
        MerkleTree([b"x"])
    with pytest.raises(IndexError):
        tree.leaf(10)


async def test_tree_store_round_trip() -> None:
    tree = MerkleTree.from_entries(entries(77))
    store = tree.store()
    assert await root(store, 77) == tree.root()
    assert await consistency_proof(store, 13, 77) == tree.consistency_proof(13)
