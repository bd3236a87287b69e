"""A content-addressed blob store on a directory: where documents' original bytes live.

A blob's name is the SHA-256 of its bytes (lowercase hex), stored at `<root>/ab/cd/<sha>`.
The axis promises that a document accepted is a document kept, so a blob becomes visible
under its name only once it is complete: bytes go to a temporary file in the same
directory and are renamed into place atomically. A crash leaves at most a `.tmp-*` file,
never a partial blob written by this process; `remove_stale_temp_files` sweeps those up.
Writing the same bytes twice is harmless (same name, same content).

Durable one by one, or many at once. By default (`durable=True`) a write fsyncs the file
before the rename and the directory after it. Ingest writes a batch's files with
`durable=False` and then calls `make_durable` once: one `syncfs(2)` of the store's file
system (one journal commit instead of two fsyncs per file, each ~2.5 ms on a virtual
disk). The argument that nothing accepted is lost:

- a database row referencing a blob commits only after a `make_durable` that began after
  the blob was renamed into place (ingest writes, then submits to its group commit, whose
  batch syncs before its transaction); `syncfs` covers every file of the file system, so
  it does not matter who wrote the bytes, nor whether a request was cancelled meanwhile;
- after a power loss before that sync, a name may be left holding other bytes (empty or
  partial: the rename reached the journal, the data did not). No row references it, and
  every write re-hashes what is under the name first (`_holds`) and rewrites it when it
  differs, so the client's retry repairs it; `get` re-hashes too, so damaged bytes are
  never handed out.

The cost: `syncfs` writes back every dirty page of the file system, not only the batch's
(measured here: usually 2-5 ms, once 170 ms while other processes had written a lot). Put
the blob store on a file system of its own, not beside Kafka's logs, which are not fsynced.

A received document is not written twice: it arrives into a `Spool` (a temporary file in
the store's root, hashed and counted as the bytes come), is parsed and verified from
there, and, once accepted, is renamed into place under its hash (`Spool.keep`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from types import TracebackType

from schemas.files import fsync_directory, sync_file_system, write_atomically

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"
_HASH_CHUNK = 1024 * 1024
RECENT_BYTES = 16 * 1024 * 1024
"""Bytes of recently read blobs a store keeps in memory (`BlobStore.get`)."""


class BlobError(Exception):
    """Base class of blob store errors."""


class InvalidBlobIdError(BlobError, ValueError):
    """The id is not a lowercase SHA-256 hex digest (and so could name no blob, or a path)."""


class BlobNotFoundError(BlobError, KeyError):
    """No blob with this id is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256

    def __str__(self) -> str:
        return f"no blob {self.sha256} in the blob store"


class BlobCorruptedError(BlobError):
    """The stored bytes no longer hash to their name (disk damage or tampering)."""


def sha256_hex(data: bytes) -> str:
    """The blob id of `data`."""
    return hashlib.sha256(data).hexdigest()


def validate_blob_id(sha256: str) -> str:
    """Return `sha256` if it is a lowercase 64-digit hex digest, else raise.

    Ids come from requests and database rows; checking the exact form before building a path
    is what keeps `../etc/passwd` and friends out of the file system.
    """
    if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256) is None:
        raise InvalidBlobIdError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
    return sha256


class BlobStore:
    """Content-addressed blobs under `root` (`Settings().resolved_blob_dir`).

    The async methods run the file work in a thread so the event loop is never blocked on
    disk; the `*_sync` twins are there for code that is not async (CLI, offline tools).
    """

    def __init__(self, root: Path | str, *, recent_bytes: int = RECENT_BYTES) -> None:
        self.root = Path(root)
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._recent_size = 0
        self._recent_limit = recent_bytes

    def path_for(self, sha256: str) -> Path:
        """Where the blob `sha256` lives (whether or not it exists)."""
        validate_blob_id(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def spool(self) -> Spool:
        """A new temporary file in the store for bytes that arrive piece by piece."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Spool(self)

    async def put(self, data: bytes) -> str:
        """Store `data` durably and return its SHA-256 hex id."""
        return await asyncio.to_thread(self.put_sync, data)

    async def make_durable(self) -> None:
        """Make every blob written so far with `durable=False` durable, all at once."""
        await asyncio.to_thread(self.make_durable_sync)

    def make_durable_sync(self) -> None:
        """Blocking `make_durable`."""
        sync_file_system(self.root)

    async def get(self, sha256: str) -> bytes:
        """The bytes of blob `sha256`; `BlobNotFoundError` if absent. Blobs read a moment
        ago come from memory: a document going to ten recipients is read from disk and
        hashed once, not ten times (a blob never changes under its name)."""
        data = self._recent.get(sha256)
        if data is not None:
            self._recent.move_to_end(sha256)
            return data
        data = await asyncio.to_thread(self.get_sync, sha256)
        self._remember(sha256, data)
        return data

    def _remember(self, sha256: str, data: bytes) -> None:
        """Keep `data` among the recent reads, the least recently read going first past the
        limit; a blob over an eighth of it is not kept (large documents are read rarely)."""
        if len(data) > self._recent_limit // 8 or sha256 in self._recent:
            return
        self._recent[sha256] = data
        self._recent_size += len(data)
        while self._recent_size > self._recent_limit:
            _, oldest = self._recent.popitem(last=False)
            self._recent_size -= len(oldest)

    async def exists(self, sha256: str) -> bool:
        """Whether blob `sha256` is stored (complete: partial writes are never visible)."""
        return await asyncio.to_thread(self.exists_sync, sha256)

    async def remove_stale_temp_files(self, older_than_seconds: float = 3600.0) -> int:
        """Delete temp files left by crashed writers; returns how many were removed."""
        return await asyncio.to_thread(self.remove_stale_temp_files_sync, older_than_seconds)

    def put_sync(self, data: bytes, *, durable: bool = True) -> str:
        """Blocking `put`; without `durable`, durable only after `make_durable`."""
        sha256 = sha256_hex(data)
        final = self.path_for(sha256)
        if self._holds(final, sha256):
            return sha256  # already stored (a retry); a damaged copy is rewritten below
        self._make_dirs(final.parent, durable=durable)
        # Created 0600: these are other agencies' official documents.
        write_atomically(final, data, temporary_prefix=TEMP_PREFIX, durable=durable)
        return sha256

    def get_sync(self, sha256: str, *, verify: bool = True) -> bytes:
        """Blocking `get`. With `verify` (default) the bytes are re-hashed before return,
        so the axis never hands out damaged bytes as a document's original."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None
        if verify and sha256_hex(data) != sha256:
            raise BlobCorruptedError(f"blob {sha256} at {path} does not match its hash")
        return data

    def exists_sync(self, sha256: str) -> bool:
        """Blocking `exists`."""
        return self.path_for(sha256).is_file()

    def remove_stale_temp_files_sync(self, older_than_seconds: float = 3600.0) -> int:
        """Blocking `remove_stale_temp_files`."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        temporaries = [*self.root.glob(f"{TEMP_PREFIX}*"), *self.root.glob(f"??/??/{TEMP_PREFIX}*")]
        for temp in temporaries:
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # finished or removed by someone else meanwhile
        return removed

    @staticmethod
    def _holds(path: Path, sha256: str) -> bool:
        """Whether `path` holds bytes hashing to `sha256` (read in slices: blobs are large)."""
        digest = hashlib.sha256()
        try:
            with path.open("rb") as file:
                while chunk := file.read(_HASH_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        return digest.hexdigest() == sha256

    def _make_dirs(self, shard: Path, *, durable: bool = True) -> None:
        """Create `root/ab/cd`, fsyncing (if `durable`) each parent that gains an entry."""
        missing: list[Path] = []
        directory = shard
        while not directory.is_dir():
            missing.append(directory)
            if directory == directory.parent:
                break
            directory = directory.parent
        shard.mkdir(parents=True, exist_ok=True)
        if durable:
            for created in reversed(missing):
                fsync_directory(created.parent)


class Spool:
    """Bytes on their way into the store: written to a temporary file in its root as they
    arrive, hashed and counted on the way, then kept under their hash or discarded.

    Used as a context manager, so that whatever is not kept is removed. Writes are small and
    go to the page cache; `keep` (fsync and rename) runs in a thread.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        fd, name = tempfile.mkstemp(dir=store.root, prefix=TEMP_PREFIX)
        os.fchmod(fd, 0o600)  # other agencies' official documents
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.kept = False

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        """No more bytes: the file is complete and can be read (`path`)."""
        self._file.close()

    @property
    def sha256(self) -> str:
        """The blob id of the bytes written so far."""
        return self._digest.hexdigest()

    async def keep(self) -> str:
        """Make the bytes a durable blob under their hash and return it."""
        return await asyncio.to_thread(self.keep_sync)

    def keep_sync(self, *, durable: bool = True) -> str:
        """Blocking `keep`: fsync, rename into place, fsync the folder (without `durable`,
        no fsync: `BlobStore.make_durable` later). The same bytes already stored (a retry)
        are left as they are."""
        sha256 = self.sha256
        final = self.store.path_for(sha256)
        if not self.kept:
            self.close()
            if self.store._holds(final, sha256):
                self.path.unlink(missing_ok=True)
            else:
                if durable:
                    with self.path.open("rb") as file:
                        os.fsync(file.fileno())
                self.store._make_dirs(final.parent, durable=durable)
                os.replace(self.path, final)
                if durable:
                    fsync_directory(final.parent)
            self.kept = True
        return sha256

    def discard(self) -> None:
        """Remove the temporary file unless the bytes were kept."""
        self.close()
        if not self.kept:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()
