"""Room on the data disk: ingest refuses (503, `Retry-After`) before the disk is full.

A message the axis accepts is one it keeps, so it must not start what it may not be able to
finish: the sending routes ask `DiskSpace.check` before they read a body, and refuse while
the directories the axis writes (data dir, blob store, embedded bus) have less free space
than the reserve (`AXIS_DISK_RESERVE_BYTES`). The reserve is what lets the work already
accepted (deliveries, audit entries, the bus) go on while new work waits.

The check is racy (a write may take the space after it), so a write that fails with "no
space" anyway ends in the same 503 (`is_disk_full`, used by the problem handlers); every
writer leaves nothing half-written behind (a temporary file is removed when its write
fails, SQLite rolls its transaction back).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import Counter, Gauge
from sqlalchemy.exc import DBAPIError

from axis.config import Settings
from axis.problem import Problem

logger = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
"""How long one look at the free space stands: a few system calls a second at most."""
RETRY_AFTER_SECONDS = 60

FREE_BYTES = Gauge(
    "axis_disk_free_bytes",
    "Least free space among the axis's data directories, last look.",
    multiprocess_mode="mostrecent",  # one figure for all the processes of `axis serve`
)
REFUSALS = Counter(
    "axis_disk_full_refusals", "Messages refused because the data disk was short of its reserve."
)


def disk_full() -> Problem:
    """The answer while the axis has no room: nothing was kept, the same bytes may come again."""
    return Problem(
        503,
        "disk_full",
        "Service unavailable",
        "the axis is short of disk space; nothing was accepted, send it again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` says a disk is full: ENOSPC or EDQUOT from a file write, SQLITE_FULL
    from SQLite (directly or through SQLAlchemy)."""
    if isinstance(exc, DBAPIError):
        return is_disk_full(exc.orig)
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return False


def free_bytes(directory: Path) -> int:
    """Free space for the axis (not root's reserved blocks) on the disk of `directory`, or
    of its nearest existing parent (a store creates its directory on first write)."""
    for path in (directory, *directory.absolute().parents):
        try:
            stats = os.statvfs(path)
        except FileNotFoundError:
            continue
        return stats.f_bavail * stats.f_frsize
    raise FileNotFoundError(directory)  # pragma: no cover - "/" exists


class DiskSpace:
    """The free space of the directories the axis writes, checked against a reserve."""

    def __init__(
        self,
        directories: Iterable[Path],
        reserve_bytes: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directories = sorted(set(directories))
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self._looked_at = -math.inf
        self._free = 0
        self._short = False

    @classmethod
    def of(cls, settings: Settings) -> DiskSpace:
        """The data dir, the blob store and (embedded) the bus file's directory."""
        directories = [settings.data_dir, settings.resolved_blob_dir]
        if settings.bus == "embedded":
            directories.append(settings.resolved_bus_path.parent)
        return cls(directories, settings.disk_reserve_bytes)

    def free_bytes(self) -> int:
        """The least free space among the directories, at most `CACHE_SECONDS` old."""
        now = self._clock()
        if now - self._looked_at >= CACHE_SECONDS:
            self._free = min(free_bytes(directory) for directory in self.directories)
            self._looked_at = now
            FREE_BYTES.set(self._free)
        return self._free

    def check(self) -> None:
        """Raise the 503 `disk_full` problem while free space is below the reserve."""
        free = self.free_bytes()
        short = free < self.reserve_bytes
        if short != self._short:  # log the changes, not every refusal
            self._short = short
            if short:
                logger.warning(
                    "ingest refuses new messages: %d bytes free under %s, reserve %d",
                    free,
                    ", ".join(map(str, self.directories)),
                    self.reserve_bytes,
                )
            else:
                logger.warning("ingest accepts again: %d bytes free", free)
        if short:
            REFUSALS.inc()
            raise disk_full()
