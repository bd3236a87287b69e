"""Files that appear whole or not at all, and stay after a crash: blobs, file-drop
deliveries, what a push receiver stores; and the layout of a delivered document in a folder,
which the axis's file drop writes and an agency's receiver and drop-folder reader share.

Why one place: the order matters and is easy to get subtly wrong. The bytes go to a
temporary name in the same folder (so the rename is atomic: one file system), are fsynced,
renamed over the final name, and then the folder is fsynced (POSIX makes a rename durable
only then). A reader of the folder sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import tempfile
from pathlib import Path


def fsync_directory(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: Path,
    data: bytes,
    *,
    temporary_prefix: str | None = None,
    mode: int = 0o600,
    durable: bool = True,
) -> None:
    """Write `data` to `path` (whose folder exists), replacing any earlier file.

    The temporary file has `mode` from its first byte (no window where a key is readable) and
    is named `temporary_prefix` + random (by default `.<name>.`, hidden), so that watchers
    and sweepers can tell it apart. Without `durable` neither the file nor the folder is
    fsynced: the caller makes many files durable at once (`sync_file_system`)."""
    prefix = temporary_prefix if temporary_prefix is not None else f".{path.name}."
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)


def sync_file_system(path: Path) -> None:
    """Make every file written on `path`'s file system durable, with one `syncfs(2)` (one
    journal commit, however many files and renames are pending); `sync(2)` where there is
    no `syncfs` (not Linux)."""
    libc = _libc()
    if libc is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if libc.syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, if it has `syncfs`."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every Linux has one
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    return libc if hasattr(libc, "syncfs") else None


ENVELOPE_SUFFIX = ".edxml"
EVIDENCE_SUFFIX = ".evidence.xml"


def delivery_paths(directory: Path, delivery_id: str) -> tuple[Path, Path]:
    """Where one delivery lives in a folder: `<id>.edxml` (the envelope as the sender
    signed it) and `<id>.evidence.xml` (the axis's transit record)."""
    return (
        directory / f"{delivery_id}{ENVELOPE_SUFFIX}",
        directory / f"{delivery_id}{EVIDENCE_SUFFIX}",
    )


def write_delivery(
    directory: Path,
    delivery_id: str,
    envelope: bytes,
    evidence: bytes,
    *,
    temporary_prefix: str | None = None,
) -> None:
    """The evidence first, then the envelope, each atomically: whoever sees `<id>.edxml`
    finds `<id>.evidence.xml` beside it, so the envelope's presence means complete."""
    envelope_path, evidence_path = delivery_paths(directory, delivery_id)
    write_atomically(evidence_path, evidence, temporary_prefix=temporary_prefix)
    write_atomically(envelope_path, envelope, temporary_prefix=temporary_prefix)


def delivered_ids(directory: Path) -> list[str]:
    """The ids of the complete deliveries in `directory`, sorted (temporary files, hidden,
    are not deliveries)."""
    return sorted(
        path.name.removesuffix(ENVELOPE_SUFFIX)
        for path in directory.glob(f"*{ENVELOPE_SUFFIX}")
        if not path.name.startswith(".") and path.is_file()
    )
