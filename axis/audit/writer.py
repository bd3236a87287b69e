"""The audit writer: appends every event of the `events` topic to the audit log, in order.

One writer at a time: the events topic has one partition, which a consumer group gives to
one member; should two ever overlap, the log's primary key (the position) refuses the
second, whose batch then fails and is read again. An event already in the log (same id)
is skipped, so replays add nothing. The bus offset is committed only after the entries
are durable, so a restart resumes exactly where the last batch ended.

An event outside this axis's vocabulary (`schemas.events`: a type it does not know, or data
that does not fit its type) cannot be made by `axis.events.Event`, but a newer axis during
an upgrade, or a bug, may still publish one. It is logged as it is, with a warning: skipping
it would leave out of the log something that happened, and refusing it would stop the log
for good (the writer would read it again forever). The log records what was published; the
warning says what to look at.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.audit.checkpoints import Checkpointer
from axis.audit.entries import audit_entry
from axis.audit.merkle import leaf_hash
from axis.audit.tree import log_size
from axis.backoff import Backoff
from axis.bus import Bus, Record
from axis.bus.topics import EVENTS
from axis.events import Event
from axis.storage.models import AuditEntry

logger = logging.getLogger(__name__)

AUDIT_GROUP = "audit-writer"


async def append_events(
    sessions: async_sessionmaker[AsyncSession], records: Sequence[Record]
) -> int:
    """Append the events in `records` that the log does not hold yet; how many were new."""
    events = [json.loads(record.value) for record in records]
    async with sessions.begin() as session:
        ids = [event["id"] for event in events]
        known = set(
            await session.scalars(select(AuditEntry.event_id).where(AuditEntry.event_id.in_(ids)))
        )
        size = await log_size(session)
        rows: list[dict[str, object]] = []
        for event in events:
            if event["id"] in known:
                continue
            known.add(event["id"])
            _check_vocabulary(event)
            position = size + len(rows)
            entry = audit_entry(position, event)
            rows.append(
                {
                    "position": position,
                    "event_id": event["id"],
                    "entry": entry,
                    "leaf_hash": leaf_hash(entry),
                    "event_type": event["type"],
                    "document_id": event.get("document_id"),
                    "agency_code": event.get("agency_code"),
                    "at": datetime.fromisoformat(event["at"]),
                }
            )
        if rows:  # one multi-row INSERT: half the writer's cost was ORM objects, one a row
            await session.execute(insert(AuditEntry), rows)
    return len(rows)


def _check_vocabulary(event: dict[str, Any]) -> None:
    """Warn of an event outside the vocabulary; it is logged all the same."""
    try:
        Event.model_validate(event)
    except ValidationError as exc:
        logger.warning(
            "the audit log records event %s of type %r, which is not in the vocabulary: %s",
            event["id"],
            event.get("type"),
            exc,
        )


async def write_forever(
    bus: Bus, sessions: async_sessionmaker[AsyncSession], checkpointer: Checkpointer
) -> None:
    """Run until cancelled: one database transaction per batch of events, then the commit
    of their offsets. A failure reopens the consumer after a growing pause; nothing is lost
    and, being idempotent on event ids, nothing is written twice."""
    backoff = Backoff()
    while True:
        try:
            async with bus.consumer(AUDIT_GROUP, [EVENTS]) as consumer:
                while True:
                    records = await consumer.getmany(max_wait=1.0, max_records=1000)
                    appended = 0
                    if records:
                        appended = await append_events(sessions, records)
                        await consumer.commit(records)
                        backoff.reset()
                    await checkpointer.maybe_checkpoint(sessions, appended)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the audit writer failed; its events will be read again")
            await backoff.pause()
