"""File drop: deliveries written into a folder that an agency's system watches.

Each file appears whole or not at all (written to a hidden temporary name in the same
folder, flushed to disk, then renamed), so a watcher never reads half a document.
"""

from __future__ import annotations

from pathlib import Path

from axis.files import write_atomically

INCOMING_PREFIX = ".incoming-"
"""The hidden name a file has while it is being written (watchers skip it)."""


def drop_delivery(directory: Path, delivery_id: str, envelope: bytes, evidence: bytes) -> None:
    """The evidence first, then the envelope: a watcher that sees `<id>.edxml` finds
    `<id>.evidence.xml` beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (f"{delivery_id}.evidence.xml", evidence),
        (f"{delivery_id}.edxml", envelope),
    ):
        write_atomically(directory / name, data, temporary_prefix=INCOMING_PREFIX)
