"""The router: one delivery per recipient for every accepted document or status message.

Delivery ids are derived from the message id and the recipient, so replaying the
documents topic recreates nothing: rows already there are kept, and the delivery worker
skips what is no longer waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, union_all
from sqlalchemy.exc import IntegrityError

from axis.bus import Record
from axis.delivery.lifecycle import ID_NAMESPACE
from axis.messages import DocumentAccepted, StatusAccepted
from axis.storage.models import Delivery, Document, Status
from axis.workers.context import WorkerContext

logger = logging.getLogger(__name__)

ROUTER_GROUP = "router"
COMMIT_WAIT_SECONDS = 5.0
"""How long the router waits at least for the row of an accepted message to be committed."""
ORPHAN_AFTER_SECONDS = 30.0
"""An accepted record this old whose row is still missing was never committed."""


def delivery_id(message_id: str, recipient: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{message_id}\n{recipient}"))


async def route(context: WorkerContext, records: Sequence[Record]) -> None:
    """Create the deliveries of the accepted messages of `records` (one `getmany`) and
    queue them: one transaction and one publish for the whole batch."""
    routed: dict[str, _Routed] = {}
    for record in records:
        message = _routed(record)
        # A message accepted twice (an API killed between publishing and answering, then
        # the sender's resend) has two records: its deliveries are made once.
        if message is not None:
            routed.setdefault(message.message_id, message)
    if routed:
        await _queue(context, list(routed.values()))


@dataclass(frozen=True)
class _Routed:
    """The deliveries of one accepted message, and when its row still missing makes it an
    orphan."""

    record: Record
    deliveries: list[Delivery]
    orphan_at: float
    """`time.monotonic()`."""

    @property
    def message_id(self) -> str:
        """The id of the message row the deliveries reference (a status's, or a document's)."""
        delivery = self.deliveries[0]
        return delivery.status_id or delivery.document_id


def _routed(record: Record) -> _Routed | None:
    record_type = dict(record.headers).get("type", b"").decode()
    deliveries: list[Delivery]
    if record_type == "document.accepted":
        document = DocumentAccepted.model_validate_json(record.value)
        deliveries = _deliveries(document, "edoc", document.document_id)
    elif record_type == "status.accepted":
        status = StatusAccepted.model_validate_json(record.value)
        deliveries = _deliveries(status, "status", status.status_id, status_id=status.status_id)
    else:
        logger.warning("router skips a record of unknown type %r", record_type)
        return None
    if not deliveries:
        return None
    now = time.monotonic()
    age = time.time() - record.timestamp_ms / 1000
    return _Routed(record, deliveries, now + max(COMMIT_WAIT_SECONDS, ORPHAN_AFTER_SECONDS - age))


def _deliveries(
    accepted: DocumentAccepted | StatusAccepted,
    kind: str,
    message_id: str,
    *,
    status_id: str | None = None,
) -> list[Delivery]:
    """One delivery per recipient; documents and statuses travel alike and differ only in
    `kind`, the id the delivery ids derive from, and the status a status delivery carries."""
    return [
        Delivery(
            id=delivery_id(message_id, recipient),
            kind=kind,
            document_id=accepted.document_id,
            status_id=status_id,
            sender_code=accepted.sender,
            recipient_code=recipient,
            content_sha256=accepted.content_sha256,
            transit_sha256=accepted.transit_sha256,
        )
        for recipient in accepted.recipients
    ]


async def _queue(context: WorkerContext, waiting: list[_Routed]) -> None:
    """Queue the deliveries (the lifecycle inserts those not there yet and requests each).

    The API publishes the `accepted` record just before it commits the message's row, so a
    router in another process may read the record first; on PostgreSQL the insert then
    fails at once on the foreign key. The messages whose rows are there are then queued
    without waiting, and the others wait for their commit. An API that died between the two
    leaves a record whose row never comes: its sender got no answer, so the message was
    never accepted. Once the record is `ORPHAN_AFTER_SECONDS` old with still no row, it is
    skipped (and logged), so it holds up nothing behind it.
    """
    lifecycle = context.lifecycle
    while waiting:
        try:  # after an IntegrityError the rows added are transient again: add them again
            await lifecycle.queue(
                [delivery for routed in waiting for delivery in routed.deliveries]
            )
            return
        except IntegrityError:
            committed = await _committed(context, waiting)
            if len(committed) == len(waiting) and time.monotonic() > min(
                routed.orphan_at for routed in waiting
            ):
                raise  # not (only) a missing message: the batch is read again
        ready = [routed for routed in waiting if routed.message_id in committed]
        if ready and len(ready) < len(waiting):
            await lifecycle.queue([delivery for routed in ready for delivery in routed.deliveries])
            waiting = [routed for routed in waiting if routed.message_id not in committed]
        now = time.monotonic()
        for routed in waiting:
            if routed.message_id not in committed and routed.orphan_at <= now:
                record = routed.record
                logger.warning(
                    "skipping an accepted record at %s/%d/%d: its message was never committed",
                    record.topic,
                    record.partition,
                    record.offset,
                )
        waiting = [r for r in waiting if r.message_id in committed or r.orphan_at > now]
        if waiting:
            await asyncio.sleep(0.05)


async def _committed(context: WorkerContext, waiting: list[_Routed]) -> set[str]:
    """The ids of the messages of `waiting` whose rows are committed."""
    ids = [routed.message_id for routed in waiting]
    query = union_all(
        select(Document.id).where(Document.id.in_(ids)),
        select(Status.id).where(Status.id.in_(ids)),
    )
    async with context.sessions() as session:
        return set(await session.scalars(query))
