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


async def route(context: WorkerContext, record: Record) -> None:
    """Create the deliveries of one accepted message and queue them."""
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
        return

    if deliveries:
        await _queue(context, record, deliveries)


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


async def _queue(context: WorkerContext, record: Record, deliveries: list[Delivery]) -> None:
    """Queue the deliveries (the lifecycle inserts those not there yet and requests each).

    The API publishes the `accepted` record just before it commits the message's row, so a
    router in another process may read the record first; on PostgreSQL the insert then
    fails at once on the foreign key, so the router waits for that commit. An API that died
    between the two leaves a record whose row never comes: its sender got no answer, so the
    message was never accepted. Once the record is `ORPHAN_AFTER_SECONDS` old with still no
    row, it is skipped (and logged), so it holds up nothing behind it.
    """
    orphan_at = max(
        time.monotonic() + COMMIT_WAIT_SECONDS,
        time.monotonic() + record.timestamp_ms / 1000 + ORPHAN_AFTER_SECONDS - time.time(),
    )
    while True:
        try:
            await context.lifecycle.queue(deliveries)
            return
        except IntegrityError:  # the rows added are transient again: add them again
            if time.monotonic() < orphan_at:
                await asyncio.sleep(0.05)
                continue
            if await _message_exists(context, deliveries[0]):
                raise
            logger.warning(
                "skipping an accepted record at %s/%d/%d: its message was never committed",
                record.topic,
                record.partition,
                record.offset,
            )
            return


async def _message_exists(context: WorkerContext, delivery: Delivery) -> bool:
    async with context.sessions() as session:
        if delivery.status_id is not None:
            return await session.get(Status, delivery.status_id) is not None
        return await session.get(Document, delivery.document_id) is not None
