"""File drop: deliveries written into a folder that an agency's system watches.

Each file appears whole or not at all (written to a hidden temporary name in the same
folder, flushed to disk, then renamed), so a watcher never reads half a document. The
folder must exist: a missing one is more likely an unmounted share than a new agency, and
creating it would deliver into the void. Writing and its fsyncs run in a thread, off the
event loop; a folder that is missing, read-only or full is worth another attempt. A folder
that is not (or, through a symlink, no longer) under `AXIS_FILE_DROP_ROOT` is never written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from axis.delivery.adapters.base import (
    Adapter,
    Dead,
    Delivered,
    Outcome,
    Payload,
    Retry,
    RetryingDeliveryConfig,
)
from schemas.files import write_delivery

INCOMING_PREFIX = ".incoming-"
"""The hidden name a file has while it is being written (watchers skip it)."""


class FileDropDelivery(RetryingDeliveryConfig):
    """Documents are written into a directory that the agency's system watches."""

    kind: Literal["file_drop"] = "file_drop"
    directory: Path


def outside_root(directory: Path, root: Path) -> str | None:
    """Why `directory` may not be a drop folder under `root` (resolved), or None: it must be
    absolute, without `..`, and lie under the root once its symlinks are followed."""
    if not directory.is_absolute():
        return f"the file-drop directory {directory} is not an absolute path"
    if ".." in directory.parts:
        return f"the file-drop directory {directory} contains '..'"
    if not directory.resolve().is_relative_to(root):
        return f"the file-drop directory {directory} is not under the file-drop root {root}"
    return None


class FileDropAdapter(Adapter[FileDropDelivery]):
    config = FileDropDelivery

    async def deliver(self, delivery: FileDropDelivery, payload: Payload) -> Outcome:
        refused = outside_root(delivery.directory, self.resources.file_drop_root)
        if refused is not None:
            return Dead(refused)
        envelope, evidence = await payload.envelope(), await payload.evidence()
        try:
            await asyncio.to_thread(
                write_delivery,
                delivery.directory,
                payload.delivery_id,
                envelope,
                evidence,
                temporary_prefix=INCOMING_PREFIX,
            )
        except OSError as exc:
            return Retry(None, f"{type(exc).__name__}: {exc}")
        return Delivered()
