"""The content-addressed blob store: round trip, idempotence, bad ids, crash safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from axis.storage import (
    BlobCorruptedError,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobIdError,
)
from axis.storage.blobs import TEMP_PREFIX

DATA = b"<edXML>...signed bytes, kept verbatim...</edXML>\n"
SHA = hashlib.sha256(DATA).hexdigest()


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_round_trip(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    assert await store.put(DATA) == SHA
    assert await store.exists(SHA)
    assert await store.get(SHA) == DATA
    assert store.path_for(SHA) == tmp_path / "blobs" / SHA[:2] / SHA[2:4] / SHA
    assert _all_files(tmp_path / "blobs") == [store.path_for(SHA)]


async def test_empty_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = await store.put(b"")
    assert sha == hashlib.sha256(b"").hexdigest()
    assert await store.get(sha) == b""


async def test_put_is_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert await store.put(DATA) == SHA
    first = store.path_for(SHA).stat()
    assert await store.put(DATA) == SHA
    again = store.path_for(SHA).stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert _all_files(tmp_path) == [store.path_for(SHA)]


async def test_missing_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "never-created")
    missing = "0" * 64
    assert not await store.exists(missing)
    with pytest.raises(BlobNotFoundError, match=f"no blob {missing}") as raised:
        await store.get(missing)
    assert isinstance(raised.value, KeyError)
    assert raised.value.sha256 == missing


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "../../" + "a" * 58,
        "/etc/passwd",
        "",
        "a" * 63,
        "a" * 65,
        SHA.upper(),
        "g" * 64,
        SHA[:-1] + "/",
        SHA + "\n",
    ],
)
async def test_malformed_ids_are_refused(tmp_path: Path, bad: str) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(InvalidBlobIdError):
        await store.get(bad)
    with pytest.raises(InvalidBlobIdError):
        await store.exists(bad)
    with pytest.raises(InvalidBlobIdError):
        store.path_for(bad)
    assert isinstance(InvalidBlobIdError("x"), ValueError)


async def test_partial_write_is_never_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the bytes are being written they sit under a temp name in the final directory;
    a failure before the rename leaves nothing under the blob's name (and no temp file)."""
    store = BlobStore(tmp_path)
    final = store.path_for(SHA)
    seen: list[list[Path]] = []
    real_fsync = os.fsync

    def crash_at_fsync(fd: int) -> None:
        real_fsync(fd)
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the blob's bytes, not a directory
            seen.append(sorted(final.parent.iterdir()))
            raise OSError("simulated crash: disk gone before the rename")

    monkeypatch.setattr(os, "fsync", crash_at_fsync)
    with pytest.raises(OSError, match="simulated crash"):
        await store.put(DATA)

    (during,) = seen
    assert [p.name for p in during if p.name == SHA] == []  # not under the final name ...
    assert len(during) == 1 and during[0].name.startswith(TEMP_PREFIX)  # ... but beside it
    assert during[0].parent == final.parent
    assert not await store.exists(SHA)
    with pytest.raises(BlobNotFoundError):
        await store.get(SHA)
    assert _all_files(tmp_path) == []  # the temp file was cleaned up

    monkeypatch.setattr(os, "fsync", real_fsync)
    assert await store.put(DATA) == SHA
    assert await store.get(SHA) == DATA


async def test_failed_rename_leaves_no_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)

    def no_rename(src: object, dst: object) -> None:
        raise OSError("simulated crash at rename")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="rename"):
        await store.put(DATA)
    assert not await store.exists(SHA)
    assert _all_files(tmp_path) == []


async def test_killed_writer_leaves_only_a_temp_file(tmp_path: Path) -> None:
    """A writer killed with SIGKILL after writing but before the rename: the blob is not
    visible, and the orphaned temp file is swept by remove_stale_temp_files."""
    root = tmp_path / "blobs"
    child = textwrap.dedent(
        f"""
        import os, sys, time
        from axis.storage import BlobStore

        def hang(src, dst):
            print("written", flush=True)
            time.sleep(600)

        os.replace = hang
        BlobStore({str(root)!r}).put_sync({DATA!r})
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", child, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"written\n"
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)

    store = BlobStore(root)
    assert not await store.exists(SHA)
    (orphan,) = _all_files(root)
    assert orphan.name.startswith(TEMP_PREFIX)
    assert orphan.read_bytes() == DATA

    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 0  # too recent
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 1
    assert _all_files(root) == []
    assert await store.put(DATA) == SHA


async def test_damaged_blob_is_detected_and_put_repairs_it(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    await store.put(DATA)
    path = store.path_for(SHA)
    path.write_bytes(DATA.replace(b"kept", b"KEPT"))
    with pytest.raises(BlobCorruptedError):
        await store.get(SHA)
    assert await store.put(DATA) == SHA
    assert await store.get(SHA) == DATA


async def test_a_blob_read_a_moment_ago_comes_from_memory_until_pushed_out(
    tmp_path: Path,
) -> None:
    """A document read once per recipient is read from disk once: a second read does not
    see the file (here damaged on purpose); once newer reads have pushed it out of the
    limit, the next read goes to the disk again and finds the damage."""
    store = BlobStore(tmp_path, recent_bytes=16 * len(DATA))
    await store.put(DATA)
    assert await store.get(SHA) == DATA
    store.path_for(SHA).write_bytes(DATA.replace(b"kept", b"KEPT"))
    assert await store.get(SHA) == DATA
    others = [DATA + bytes([n]) * 4 for n in range(16)]
    for other in others:
        assert await store.get(await store.put(other)) == other
    with pytest.raises(BlobCorruptedError):
        await store.get(SHA)


async def test_a_spool_becomes_the_blob_by_rename(tmp_path: Path) -> None:
    """Received bytes are written once: hashed and counted on the way, then renamed into
    place (0600, like every blob); a repeat of stored bytes leaves the blob as it was."""
    store = BlobStore(tmp_path / "blobs")
    with store.spool() as spool:
        spool.write(DATA[:10])
        spool.write(DATA[10:])
        spool.close()
        assert (spool.sha256, spool.size) == (SHA, len(DATA))
        received = os.stat(spool.path).st_ino
        assert await spool.keep() == SHA
    assert store.path_for(SHA).stat().st_ino == received
    assert stat.S_IMODE(store.path_for(SHA).stat().st_mode) == 0o600
    assert await store.get(SHA) == DATA
    with store.spool() as again:
        again.write(DATA)
        assert await again.keep() == SHA
    assert store.path_for(SHA).stat().st_ino == received
    assert _all_files(tmp_path / "blobs") == [store.path_for(SHA)]


async def test_a_spool_not_kept_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(RuntimeError), store.spool() as spool:
        spool.write(DATA)
        raise RuntimeError("refused")
    assert _all_files(tmp_path) == []
    assert not await store.exists(SHA)


async def test_spools_a_crash_left_behind_are_swept(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    left = store.spool()
    left.write(DATA)
    left.close()
    os.utime(left.path, (time.time() - 7200, time.time() - 7200))
    assert left.path.name.startswith(TEMP_PREFIX)
    assert await store.remove_stale_temp_files() == 1
    assert _all_files(tmp_path) == []


async def test_blobs_written_without_fsync_are_made_durable_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest's batches: the bytes and evidence go in place with no fsync at all, then one
    `make_durable` (syncfs) covers them; what is under a name is still re-hashed."""
    store = BlobStore(tmp_path / "blobs")
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    with store.spool() as spool:
        spool.write(DATA)
        assert spool.keep_sync(durable=False) == SHA
    evidence = store.put_sync(b"evidence", durable=False)
    assert fsyncs == []
    await store.make_durable()
    assert fsyncs == []  # one syncfs, not an fsync per file
    assert await store.get(SHA) == DATA
    assert await store.get(evidence) == b"evidence"

    store.path_for(SHA).write_bytes(b"")  # a power loss before the sync: the name, no bytes
    with store.spool() as retry:
        retry.write(DATA)
        retry.keep_sync(durable=False)
    assert await store.get(SHA) == DATA
