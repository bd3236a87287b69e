"""RFC 9162 (Certificate Transparency v2, the same tree as RFC 6962) Merkle tree: roots,
inclusion and consistency proofs. hashlib only; the hashes and the proof verifiers are
`signing.merkle`'s (an agency checks proofs without the server), re-exported here.

Why a module of its own: the audit writer, the query API and the offline verifier
(`axis audit verify`) must agree bit for bit with each other and with any RFC 9162
implementation an auditor brings, so the tree lives in one place.

Two ways in, built on the same layout code:

* async `root`, `inclusion_proof`, `consistency_proof` over a `LeafStore` the caller implements
  (the database's `audit_entries.leaf_hash`). A store that also implements `SubtreeCache`
  keeps the hashes of complete aligned subtrees of 2**cache_level leaves and more: such a
  subtree never changes in an append-only log, so once cached a root or a proof at a million
  entries costs O(log n) subtree reads and at most a few leaf reads of 2**cache_level hashes.
* `MerkleTree`, synchronous and in memory, for an exported bundle: it hashes level by level
  (about 1 s for the root of 2**20 leaf hashes in CPython) and then answers from its levels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from signing.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "CACHE_LEVEL",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CachedMemoryLeafStore",
    "CompactRange",
    "LeafStore",
    "MemoryLeafStore",
    "MerkleTree",
    "SubtreeCache",
    "consistency_proof",
    "frontier",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

CACHE_LEVEL = 8
"""Suggested lowest cached level: subtrees of 256 leaves and up (1M leaves: about 8K rows)."""

_sha256 = hashlib.sha256

Node: TypeAlias = tuple[int, int]
"""A complete aligned subtree: (level, index) covers leaves [index << level, (index+1) << level)."""


# --- store protocols -------------------------------------------------------------------------


class LeafStore(Protocol):
    """Where the leaf hashes live (a database table, a list); the caller implements it."""

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes at positions start..end-1, in order, exactly end - start of them."""
        ...


@runtime_checkable
class SubtreeCache(Protocol):
    """Optional on a `LeafStore`: hashes of complete aligned subtrees, which never change.

    Only levels >= `cache_level` are asked for and offered; below it the functions read the
    2**cache_level leaf hashes around what they need in one `leaf_hashes` call.
    """

    @property
    def cache_level(self) -> int:
        """The lowest level cached (>= 0)."""
        ...

    async def subtree(self, level: int, index: int) -> bytes | None:
        """The stored hash of leaves [index << level, (index + 1) << level), or None."""
        ...

    async def put_subtree(self, level: int, index: int, digest: bytes) -> None:
        """Remember a hash that `subtree` may return later (ignoring it is allowed)."""
        ...


# --- layout: which complete subtrees make up a range, a path, a consistency proof ------------


def _split(n: int) -> int:
    """RFC 9162's k: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees, left to right, whose right fold is MTH(D[start:end]).

    RFC 9162 splits a range at k into a complete left part and the rest; repeating that on
    the rest gives the binary decomposition of end - start. Every range the proofs ask for
    starts at a multiple of its left part's size, so each part is an aligned subtree.
    """
    nodes: list[Node] = []
    while start < end:
        n = end - start
        width = n if n & (n - 1) == 0 else _split(n)
        level = width.bit_length() - 1
        nodes.append((level, start >> level))
        start += width
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive complete subtrees: node_hash(h0, node_hash(h1, ... h_last))."""
    result = hashes[-1]
    for digest in reversed(hashes[:-1]):
        result = node_hash(digest, result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges of PATH(index, D[size]) (RFC 9162 section 2.1.3.1), bottom up."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges of PROOF(old_size, D[new_size]) = SUBPROOF(m, D[n], true), RFC 9162
    section 2.1.4.1, in proof order (0 < old_size < new_size).

    The recursion keeps m at the same absolute leaf position, so it stops when the range
    ends there; the range itself is part of the proof unless it is the whole old tree (b).
    """
    siblings: list[tuple[int, int]] = []
    start, end, whole_old_tree = 0, new_size, True
    while end != old_size:
        k = _split(end - start)
        if old_size - start <= k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
            whole_old_tree = False
    siblings.reverse()
    return siblings if whole_old_tree else [(start, end), *siblings]


def _check_hash(digest: object, what: str) -> bytes:
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        raise ValueError(f"{what} is not a {HASH_SIZE}-byte hash: {digest!r:.80}")
    return digest


def _check_leaf_hashes(hashes: Sequence[bytes], first: int) -> None:
    """Every item a 32-byte hash (a store returning hex or a wrong column fails loudly)."""
    for position, digest in enumerate(hashes, first):
        if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
            _check_hash(digest, f"leaf hash {position}")


def _complete_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of leaf hashes, one level at a time."""
    level = list(hashes)
    while len(level) > 1:
        pairs = iter(level)
        level = [_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
    return level[0]


# --- async, over a store ---------------------------------------------------------------------


class _StoreReader:
    """One call's view of a store: complete subtree hashes, with the leaf blocks it has read
    kept for the call (a proof's low siblings all sit in one block).

    Reads run one after another, never concurrently, so a store may sit on one database
    connection.
    """

    def __init__(self, store: LeafStore, size: int) -> None:
        self._store = store
        self._size = size
        self._cache = store if isinstance(store, SubtreeCache) else None
        if self._cache is not None:
            self._block_level = self._cache.cache_level
            if not isinstance(self._block_level, int) or self._block_level < 0:
                raise ValueError(f"cache_level must be an int >= 0: {self._block_level!r}")
        else:
            # No cache: one block holds the whole tree, read once per call.
            self._block_level = size.bit_length()
        self._blocks: dict[int, list[bytes]] = {}

    async def _read(self, start: int, end: int) -> list[bytes]:
        hashes = await self._store.leaf_hashes(start, end)
        if len(hashes) != end - start:
            raise ValueError(f"leaf store gave {len(hashes)} hashes for [{start}, {end})")
        _check_leaf_hashes(hashes, start)
        return hashes

    async def _from_block(self, level: int, index: int) -> bytes:
        shift = self._block_level - level
        block = index >> shift
        leaves = self._blocks.get(block)
        if leaves is None:
            first = block << self._block_level
            last = min(first + (1 << self._block_level), self._size)
            leaves = self._blocks[block] = await self._read(first, last)
        offset = (index - (block << shift)) << level
        return _complete_hash(leaves[offset : offset + (1 << level)])

    async def _cached(self, cache: SubtreeCache, level: int, index: int) -> bytes:
        """From the cache, else from its children (or its leaves at the cache level), then
        written back: a cold tree fills the cache once, a warm one costs one read a node."""
        digest = await cache.subtree(level, index)
        if digest is not None:
            return _check_hash(digest, f"cached subtree ({level}, {index})")
        if level == self._block_level:
            first = index << level
            digest = _complete_hash(await self._read(first, first + (1 << level)))
        else:
            left = await self._cached(cache, level - 1, 2 * index)
            digest = node_hash(left, await self._cached(cache, level - 1, 2 * index + 1))
        await cache.put_subtree(level, index, digest)
        return digest

    async def node(self, level: int, index: int) -> bytes:
        """The hash of a complete subtree inside the tree of `size` leaves."""
        cache = self._cache
        if cache is None or level < self._block_level:
            return await self._from_block(level, index)
        return await self._cached(cache, level, index)


async def _range_hashes(store: LeafStore, size: int, ranges: list[tuple[int, int]]) -> list[bytes]:
    reader = _StoreReader(store, size)
    result = []
    for start, end in ranges:
        result.append(_fold([await reader.node(*node) for node in _range_nodes(start, end)]))
    return result


def _check_size(size: int, what: str) -> None:
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"{what} must be an int >= 0: {size!r}")


async def root(store: LeafStore, size: int) -> bytes:
    """MTH(D[0:size]) (RFC 9162 section 2.1.1); `EMPTY_ROOT` for size 0."""
    _check_size(size, "size")
    if size == 0:
        return EMPTY_ROOT
    return (await _range_hashes(store, size, [(0, size)]))[0]


async def frontier(store: LeafStore, size: int) -> list[bytes]:
    """The hashes of the complete subtrees that make up D[0:size], left to right (largest
    first): all a `CompactRange` needs to go on appending from `size`."""
    _check_size(size, "size")
    reader = _StoreReader(store, size)
    return [await reader.node(*node) for node in _range_nodes(0, size)]


async def inclusion_proof(store: LeafStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 section 2.1.3.1), from the leaf up; 0 <= index < size."""
    _check_size(size, "size")
    if not isinstance(index, int) or not 0 <= index < size:
        raise ValueError(f"leaf index {index!r} is not in a tree of size {size}")
    return await _range_hashes(store, size, _inclusion_ranges(index, size))


async def consistency_proof(store: LeafStore, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 section 2.1.4.1).

    Empty when old_size is 0 or equals new_size: nothing to prove (the RFC defines proofs for
    0 < old_size < new_size only; `verify_consistency` checks the roots in those cases).
    """
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    return await _range_hashes(store, new_size, _consistency_ranges(old_size, new_size))


# --- in memory -------------------------------------------------------------------------------


class MemoryLeafStore:
    """A `LeafStore` on a list, for tests and the offline verifier; counts its reads."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.hashes: list[bytes] = list(leaf_hashes)
        self.leaf_reads = 0
        """`leaf_hashes` calls so far."""
        self.leaves_read = 0
        """Leaf hashes returned so far."""

    def append(self, digest: bytes) -> int:
        """Add a leaf hash; returns its position."""
        self.hashes.append(_check_hash(digest, "leaf hash"))
        return len(self.hashes) - 1

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        self.leaf_reads += 1
        self.leaves_read += end - start
        return self.hashes[start:end]


class CachedMemoryLeafStore(MemoryLeafStore):
    """A `MemoryLeafStore` that is also a `SubtreeCache`: a model of the database table of
    subtree hashes, with counts to show what a root or proof costs."""

    def __init__(self, leaf_hashes: Iterable[bytes] = (), cache_level: int = CACHE_LEVEL) -> None:
        super().__init__(leaf_hashes)
        self._cache_level = cache_level
        self.subtrees: dict[Node, bytes] = {}
        self.subtree_reads = 0
        self.subtree_writes = 0

    @property
    def cache_level(self) -> int:
        return self._cache_level

    async def subtree(self, level: int, index: int) -> bytes | None:
        self.subtree_reads += 1
        return self.subtrees.get((level, index))

    async def put_subtree(self, level: int, index: int, digest: bytes) -> None:
        self.subtree_writes += 1
        self.subtrees[level, index] = digest

    def reset_counts(self) -> None:
        """Zero every counter, to measure one call."""
        self.leaf_reads = self.leaves_read = self.subtree_reads = self.subtree_writes = 0


class CompactRange:
    """The tree of D[0:size] kept as the hashes of its complete subtrees only (at most
    log2(size) of them): append leaf hashes one by one and ask for the root at any point, in
    constant memory. What `axis audit verify` streams a bundle of millions of entries through.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start at `size` from its `frontier` (checked to have one hash per subtree)."""
        _check_size(size, "size")
        expected = len(_range_nodes(0, size))
        if len(hashes) != expected:
            raise ValueError(f"a tree of {size} leaves has {expected} subtrees, not {len(hashes)}")
        for digest in hashes:
            _check_hash(digest, "subtree hash")
        self.size = size
        self._subtrees = [
            (1 << level, digest)
            for (level, _), digest in zip(_range_nodes(0, size), hashes, strict=True)
        ]

    def append(self, digest: bytes) -> None:
        """Add the next leaf hash, merging the complete subtrees it completes."""
        subtrees = self._subtrees
        width = 1
        while subtrees and subtrees[-1][0] == width:
            digest = _sha256(b"\x01" + subtrees.pop()[1] + digest).digest()
            width *= 2
        subtrees.append((width, digest))
        self.size += 1

    def hashes(self) -> list[bytes]:
        """The frontier: the complete subtree hashes, left to right."""
        return [digest for _, digest in self._subtrees]

    def root(self) -> bytes:
        """MTH(D[0:size])."""
        return _fold(self.hashes()) if self._subtrees else EMPTY_ROOT


class MerkleTree:
    """A synchronous in-memory tree of leaf hashes, for an exported bundle of up to millions
    of entries (`axis audit verify`).

    It keeps every complete subtree hash by level, built bottom up a level at a time with
    hashlib when a root or proof is asked for (only what was appended since is hashed), so
    any root or proof after that costs O(log n).
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.extend_leaf_hashes(leaf_hashes)

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> MerkleTree:
        """A tree over the leaf hashes of `entries` (raw entry bytes)."""
        tree = cls()
        tree.extend(entries)
        return tree

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def __len__(self) -> int:
        return self.size

    def append(self, entry: bytes) -> int:
        """Add an entry (its leaf hash); returns its position."""
        self._levels[0].append(leaf_hash(entry))
        return self.size - 1

    def append_leaf_hash(self, digest: bytes) -> int:
        """Add a leaf hash; returns its position."""
        self._levels[0].append(_check_hash(digest, "leaf hash"))
        return self.size - 1

    def extend(self, entries: Iterable[bytes]) -> None:
        """Add entries in order."""
        self._levels[0].extend([_sha256(b"\x00" + entry).digest() for entry in entries])

    def extend_leaf_hashes(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaf hashes in order."""
        hashes = list(leaf_hashes)
        _check_leaf_hashes(hashes, self.size)
        self._levels[0].extend(hashes)

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} is not in a tree of size {self.size}")
        return self._levels[0][index]

    def store(self) -> MemoryLeafStore:
        """The leaf hashes as a `MemoryLeafStore` (a copy), for the async functions."""
        return MemoryLeafStore(self._levels[0])

    def _build(self) -> None:
        """Hash every complete subtree not hashed yet, one level at a time."""
        levels = self._levels
        level = 0
        while len(levels[level]) >= 2:
            below = levels[level]
            if level + 1 == len(levels):
                levels.append([])
            above = levels[level + 1]
            done, want = len(above), len(below) // 2
            if done < want:
                pairs = iter(below[2 * done : 2 * want])
                above.extend(
                    [_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
                )
            level += 1

    def _range_hashes(self, ranges: Iterable[tuple[int, int]]) -> list[bytes]:
        self._build()
        levels = self._levels
        return [
            _fold([levels[level][index] for level, index in _range_nodes(start, end)])
            for start, end in ranges
        ]

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self.size
        _check_size(size, "size")
        if size > self.size:
            raise ValueError(f"size {size} is larger than the tree ({self.size} leaves)")
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all)."""
        size = self._size_or_current(size)
        return self._range_hashes([(0, size)])[0] if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) (default size: all leaves)."""
        size = self._size_or_current(size)
        if not isinstance(index, int) or not 0 <= index < size:
            raise ValueError(f"leaf index {index!r} is not in a tree of size {size}")
        return self._range_hashes(_inclusion_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) (default new size: all leaves)."""
        new_size = self._size_or_current(new_size)
        _check_size(old_size, "old size")
        if old_size > new_size:
            raise ValueError(f"old size {old_size} is larger than new size {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        return self._range_hashes(_consistency_ranges(old_size, new_size))
