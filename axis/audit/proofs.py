"""Where an acceptance stands in the audit log: the entry's position and its inclusion proof,
which the sending API adds to a receipt once the writer has logged it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.audit import merkle
from axis.audit.tree import DatabaseLeafStore, log_size
from axis.storage.models import AuditCheckpoint, AuditEntry
from schemas.events import EventType


@dataclass(frozen=True)
class LoggedEntry:
    """An entry with the proof that it is in the tree of `size` entries."""

    position: int
    entry: bytes
    leaf_hash: bytes
    size: int
    root: bytes
    proof: list[bytes]
    checkpoint: str | None
    """The signed note of the tree of `size` entries; None while no checkpoint covers the
    entry yet (the proof is then against the current, unsigned, tree head)."""


async def logged_acceptance(
    session: AsyncSession, document_id: str, status_id: str | None = None
) -> LoggedEntry | None:
    """The `document.accepted` entry of a document (or `status.accepted` of one status
    message about it) with its inclusion proof; None until the writer has logged it."""
    event_type = EventType.DOCUMENT_ACCEPTED if status_id is None else EventType.STATUS_ACCEPTED
    entries = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.document_id == document_id, AuditEntry.event_type == event_type
        )
    )
    found = next(
        (
            entry
            for entry in entries
            if status_id is None
            or json.loads(entry.entry)["event"]["data"].get("status_id") == status_id
        ),
        None,
    )
    if found is None:
        return None
    checkpoint = await session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.size > found.position)
        .order_by(AuditCheckpoint.size.desc())
        .limit(1)
    )
    size = checkpoint.size if checkpoint is not None else await log_size(session)
    store = DatabaseLeafStore(session)
    return LoggedEntry(
        position=found.position,
        entry=found.entry,
        leaf_hash=found.leaf_hash,
        size=size,
        root=checkpoint.root if checkpoint is not None else await merkle.root(store, size),
        proof=await merkle.inclusion_proof(store, found.position, size),
        checkpoint=checkpoint.note if checkpoint is not None else None,
    )
