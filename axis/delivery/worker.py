"""The delivery worker: hands each waiting delivery to the recipient's adapter.

Pull: the delivery is placed in the agency's inbox. File drop: the envelope and the transit
evidence are written into the agency's folder. Push: one HTTP attempt; a failure worth
repeating goes to a retry topic with a not-before time (so it holds up nobody), and past
the agency's policy (attempts, age) the delivery is dead until an operator replays it.

A delivery becomes `delivered` once, whatever is replayed: the state change is
conditional, and each step's audit event has a fixed id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from axis.bus import Record
from axis.bus.topics import RETRY_TIERS
from axis.delivery.adapters.file_drop import drop_delivery
from axis.delivery.adapters.push import PushOutcome, push
from axis.delivery.router import event_id
from axis.events import Event, event_message, publish_event
from axis.messages import DeliveryRequested, bus_message
from axis.registry import PushDelivery, RetryPolicy
from axis.storage.models import Agency, Delivery, DeliveryState, utcnow
from axis.workers.context import WorkerContext

logger = logging.getLogger(__name__)

DELIVERY_GROUP = "delivery"
WAITING = (DeliveryState.QUEUED, DeliveryState.RETRYING)
NOT_BEFORE_HEADER = "not-before"
"""Epoch milliseconds before which a retry record must not be attempted."""


async def deliver(context: WorkerContext, record: Record) -> None:
    """Deliver one requested delivery, unless it is no longer waiting. Requests for the
    same delivery wait for each other: checking the state and delivering is one step."""
    request = DeliveryRequested.model_validate_json(record.value)
    lock = context.delivering.get(request.delivery_id)
    if lock is None:
        lock = context.delivering[request.delivery_id] = asyncio.Lock()
    async with lock:
        await _deliver(context, request.delivery_id)


async def _deliver(context: WorkerContext, delivery_id: str) -> None:
    async with context.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.state not in WAITING:
            return
        agency = await session.get(Agency, delivery.recipient_code)
    assert agency is not None  # deliveries reference agencies
    kind = agency.delivery.get("kind", "pull")
    if kind == "push":
        await _push(context, delivery, PushDelivery.model_validate(agency.delivery))
        return
    if kind == "file_drop":
        envelope = await context.blobs.get(delivery.content_sha256)
        evidence = await context.blobs.get(delivery.transit_sha256)
        drop_delivery(Path(agency.delivery["directory"]), delivery.id, envelope, evidence)
    await _mark_delivered(context, delivery, adapter=kind, attempt=delivery.attempts + 1)


async def _push(context: WorkerContext, delivery: Delivery, settings: PushDelivery) -> None:
    attempt = delivery.attempts + 1
    outcome = await push(
        context.http,
        str(settings.url),
        timeout_seconds=settings.timeout_seconds,
        envelope=await context.blobs.get(delivery.content_sha256),
        evidence=await context.blobs.get(delivery.transit_sha256),
        delivery_id=delivery.id,
        document_id=delivery.document_id,
        attempt=attempt,
        secret=settings.secret,
    )
    attempted = _event(
        delivery,
        f"attempt-{attempt}",
        "delivery.attempted",
        attempt=attempt,
        http_status=outcome.status,
        duration_ms=round(outcome.duration * 1000),
        error=outcome.error,
    )
    if outcome.delivered:
        await publish_event(context.bus, attempted)
        await _mark_delivered(context, delivery, adapter="push", attempt=attempt)
    elif outcome.retryable and not _exhausted(delivery, attempt, settings.retry):
        await _schedule_retry(context, delivery, attempt, outcome, attempted)
    else:
        await _mark_dead(context, delivery, attempt, outcome, attempted)


def _exhausted(delivery: Delivery, attempt: int, policy: RetryPolicy) -> bool:
    too_old = utcnow() - delivery.created_at > timedelta(seconds=policy.max_age_seconds)
    return attempt >= policy.max_attempts or too_old


def retry_delay(delays: tuple[float, ...], attempt: int, retry_after: float | None) -> float:
    """The wait before attempt `attempt + 1`: the tier's delay with +-20% jitter (so many
    deliveries failing together do not come back together), or longer if asked."""
    delay = delays[min(attempt, len(delays)) - 1] * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


async def _schedule_retry(
    context: WorkerContext,
    delivery: Delivery,
    attempt: int,
    outcome: PushOutcome,
    attempted: Event,
) -> None:
    delay = retry_delay(context.settings.retry_delays_seconds, attempt, outcome.retry_after)
    tier = RETRY_TIERS[min(attempt, len(RETRY_TIERS)) - 1]
    not_before = str(int((time.time() + delay) * 1000)).encode()
    request = DeliveryRequested(delivery_id=delivery.id)
    retrying = _event(
        delivery, f"retrying-{attempt}", "delivery.retrying", attempt=attempt, delay_s=delay
    )
    async with context.sessions.begin() as session:
        await _update_if_waiting(
            session,
            delivery,
            state=DeliveryState.RETRYING,
            attempts=attempt,
            last_error=outcome.error,
        )
        await context.bus.publish_many(
            [
                bus_message(
                    tier, delivery.recipient_code, request, (NOT_BEFORE_HEADER, not_before)
                ),
                event_message(attempted),
                event_message(retrying),
            ]
        )


async def _mark_dead(
    context: WorkerContext,
    delivery: Delivery,
    attempt: int,
    outcome: PushOutcome,
    attempted: Event,
) -> None:
    async with context.sessions.begin() as session:
        if await _update_if_waiting(
            session, delivery, state=DeliveryState.DEAD, attempts=attempt, last_error=outcome.error
        ):
            dead = _event(
                delivery, f"dead-{attempt}", "delivery.dead", attempt=attempt, error=outcome.error
            )
            await context.bus.publish_many([event_message(attempted), event_message(dead)])


async def _mark_delivered(
    context: WorkerContext, delivery: Delivery, *, adapter: str, attempt: int
) -> None:
    """`delivered`, once: the audit event is published before the change commits, with an id
    that stays the same if a crash makes this run again."""
    async with context.sessions.begin() as session:
        if await _update_if_waiting(
            session,
            delivery,
            state=DeliveryState.DELIVERED,
            delivered_at=utcnow(),
            attempts=attempt,
        ):
            await publish_event(
                context.bus, _event(delivery, "delivered", "delivery.delivered", adapter=adapter)
            )


async def _update_if_waiting(session: AsyncSession, delivery: Delivery, **values: object) -> bool:
    """Change a delivery only while it still waits; True if this call changed it. Every
    state change goes through this one condition, so a replayed or concurrent request can
    never move a delivery that no longer waits (delivered, dead, acknowledged)."""
    changed = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.state.in_(WAITING))
        .values(**values)
    )
    return changed.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def _event(delivery: Delivery, step: str, event_type: str, **data: object) -> Event:
    return Event(
        id=event_id(delivery.id, step),
        type=event_type,
        actor="axis",
        document_id=delivery.document_id,
        agency_code=delivery.recipient_code,
        data={"delivery_id": delivery.id, "kind": delivery.kind, **data},
    )
