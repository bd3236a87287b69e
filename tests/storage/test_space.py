"""The disk space check: the reserve, the cache, and what counts as "disk full"."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from axis.config import Settings
from axis.problem import Problem
from axis.storage import space
from axis.storage.space import CACHE_SECONDS, DiskSpace, free_bytes, is_disk_full


def test_a_disk_short_of_the_reserve_refuses_with_503_and_retry_after(tmp_path: Path) -> None:
    free = free_bytes(tmp_path)
    DiskSpace([tmp_path], reserve_bytes=0).check()
    with pytest.raises(Problem) as refused:
        DiskSpace([tmp_path], reserve_bytes=free + 2**40).check()
    assert (refused.value.status, refused.value.code) == (503, "disk_full")
    assert int(refused.value.headers["Retry-After"]) > 0


def test_a_directory_not_made_yet_has_the_space_of_its_parent(tmp_path: Path) -> None:
    stats = os.statvfs(tmp_path)
    assert abs(free_bytes(tmp_path / "a" / "b") - stats.f_bavail * stats.f_frsize) < 2**24


def test_one_look_stands_for_a_second(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    looks: list[Path] = []
    monkeypatch.setattr(space, "free_bytes", lambda d: looks.append(d) or 100)
    now = [0.0]
    disk = DiskSpace([tmp_path, tmp_path / "blobs", tmp_path], 10, clock=lambda: now[0])
    assert disk.free_bytes() == 100
    assert looks == [tmp_path, tmp_path / "blobs"]
    now[0] += CACHE_SECONDS / 2
    disk.check()
    assert len(looks) == 2
    now[0] += CACHE_SECONDS
    disk.check()
    assert len(looks) == 4


def test_the_directories_are_those_the_axis_writes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_dir=tmp_path / "b", embedded_bus_path=Path("/x/b"))
    assert set(DiskSpace.of(settings).directories) == {Path("/x"), tmp_path, tmp_path / "b"}
    on_kafka = settings.model_copy(update={"bus": "kafka"})
    assert set(DiskSpace.of(on_kafka).directories) == {tmp_path, tmp_path / "b"}


def sqlite_full(tmp_path: Path) -> sqlite3.Error:
    """A real SQLITE_FULL: a database that may not grow past its few pages."""
    with sqlite3.connect(tmp_path / "small.sqlite3") as conn:
        conn.execute("CREATE TABLE t (v BLOB)")
        conn.execute("PRAGMA max_page_count = 3")
        with pytest.raises(sqlite3.Error) as full:
            conn.execute("INSERT INTO t VALUES (?)", (bytes(100_000),))
    return full.value


def test_what_counts_as_a_full_disk(tmp_path: Path) -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(TimeoutError())
    full = sqlite_full(tmp_path)
    assert is_disk_full(full)
    assert is_disk_full(OperationalError("INSERT ...", (), full))
    assert not is_disk_full(OperationalError("SELECT", (), sqlite3.OperationalError("locked")))
