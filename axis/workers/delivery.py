"""The delivery worker: hands each queued delivery to the recipient's adapter.

Pull: the delivery is placed in the agency's inbox. File drop: the envelope and the transit
evidence are written into the agency's folder. A delivery becomes `delivered` once, whatever
is replayed: the state change is conditional, and its audit event has a fixed id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import update

from adapters.file_drop import drop_delivery
from axis.bus import Record
from axis.events import Event, publish_event
from axis.messages import DeliveryRequested
from axis.storage.models import Agency, Delivery, DeliveryState, utcnow
from axis.workers.context import WorkerContext
from axis.workers.router import event_id

logger = logging.getLogger(__name__)

DELIVERY_GROUP = "delivery"
WAITING = (DeliveryState.QUEUED, DeliveryState.RETRYING)


async def deliver(context: WorkerContext, record: Record) -> None:
    """Deliver one requested delivery, unless it is no longer waiting."""
    request = DeliveryRequested.model_validate_json(record.value)
    async with context.sessions() as session:
        delivery = await session.get(Delivery, request.delivery_id)
        if delivery is None or delivery.state not in WAITING:
            return
        agency = await session.get(Agency, delivery.recipient_code)
    assert agency is not None  # deliveries reference agencies
    kind = agency.delivery.get("kind", "pull")
    if kind == "file_drop":
        envelope = await context.blobs.get(delivery.content_sha256)
        evidence = await context.blobs.get(delivery.transit_sha256)
        drop_delivery(Path(agency.delivery["directory"]), delivery.id, envelope, evidence)
    await mark_delivered(context, delivery, adapter=kind)


async def mark_delivered(context: WorkerContext, delivery: Delivery, *, adapter: str) -> None:
    """`delivered`, once: the audit event is published before the change commits, with an id
    that stays the same if a crash makes this run again."""
    async with context.sessions.begin() as session:
        changed = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.state.in_(WAITING))
            .values(
                state=DeliveryState.DELIVERED,
                delivered_at=utcnow(),
                attempts=Delivery.attempts + 1,
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return
        event = Event(
            id=event_id(delivery.id, "delivered"),
            type="delivery.delivered",
            actor="axis",
            document_id=delivery.document_id,
            agency_code=delivery.recipient_code,
            data={"delivery_id": delivery.id, "adapter": adapter, "kind": delivery.kind},
        )
        await publish_event(context.bus, event)
