"""File drop: deliveries written into a folder that an agency's system watches.

Each file appears whole or not at all (written to a hidden temporary name in the same
folder, flushed to disk, then renamed), so a watcher never reads half a document.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` to `directory/name`, replacing any earlier file of that name."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        target = directory / name
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return target


def drop_delivery(directory: Path, delivery_id: str, envelope: bytes, evidence: bytes) -> None:
    """The evidence first, then the envelope: a watcher that sees `<id>.edxml` finds
    `<id>.evidence.xml` beside it."""
    write_atomically(directory, f"{delivery_id}.evidence.xml", evidence)
    write_atomically(directory, f"{delivery_id}.edxml", envelope)
