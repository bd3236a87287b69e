"""The delivery worker: hands each waiting delivery to the adapter of the recipient's kind,
and turns what the attempt says into the next step, alike for every kind.

Delivered is final. A failure worth repeating goes to a retry topic with a not-before time
(so it holds up nobody); past the agency's retry policy (attempts, age since queued or
replayed), or when the adapter says it will not get better, the delivery is dead until an
operator replays it. An agency whose registered delivery no adapter can take is a dead
letter with the reason, never a delivery taken as done.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta

from axis.bus import Record
from axis.delivery.adapters import adapter_for, delivery_config
from axis.delivery.adapters.base import (
    Delivered,
    DeliveryConfig,
    Outcome,
    Payload,
    Resources,
    Retry,
    RetryPolicy,
)
from axis.delivery.lifecycle import WAITING, Attempt, Step
from axis.messages import DeliveryRequested
from axis.storage.models import Delivery, utcnow
from axis.workers.context import WorkerContext

logger = logging.getLogger(__name__)

DELIVERY_GROUP = "delivery"
COMMIT_WAIT_SECONDS = 5.0
"""How long a request waits at most for the change that published it to commit; one that
never commits (its transaction failed) is then handled as the row stands."""


async def deliver(context: WorkerContext, record: Record) -> None:
    """Deliver one requested delivery, unless it is no longer waiting. Requests for the
    same delivery wait for each other: checking the state and delivering is one step."""
    request = DeliveryRequested.model_validate_json(record.value)
    lock = context.delivering.get(request.delivery_id)
    if lock is None:
        lock = context.delivering[request.delivery_id] = asyncio.Lock()
    async with lock:
        await _deliver(context, request.delivery_id, Step.of(record))


async def _deliver(context: WorkerContext, delivery_id: str, step: Step) -> None:
    lifecycle = context.lifecycle
    commit_by = time.monotonic() + COMMIT_WAIT_SECONDS
    while True:
        read = await lifecycle.read(delivery_id)
        if read is None or not step.behind(read.delivery) or time.monotonic() > commit_by:
            break
        await asyncio.sleep(0.05)
    if read is None or read.delivery.state not in WAITING:
        return
    delivery = read.delivery
    number = delivery.attempts + 1
    try:
        config = delivery_config(read.recipient_delivery)
    except ValueError as exc:
        recipient = delivery.recipient_code
        logger.error("agency %s: its delivery cannot be used: %s", recipient, exc)
        reason = f"agency {recipient}: its registered delivery cannot be used: {exc}"
        await lifecycle.dead(delivery, Attempt(number, 0.0, reason))
        return
    started = time.monotonic()
    outcome = await _attempt(context, config, delivery, number)
    attempt = Attempt(
        number,
        time.monotonic() - started,
        None if isinstance(outcome, Delivered) else outcome.reason,
        outcome.detail,
    )
    if isinstance(outcome, Delivered):
        await lifecycle.delivered(
            delivery, attempt, adapter=config.kind, submitted_at=read.submitted_at
        )
    elif isinstance(outcome, Retry) and not _exhausted(delivery, number, config.retry_policy):
        delay = retry_delay(context.settings.retry_delays_seconds, number, outcome.after)
        await lifecycle.retry(delivery, attempt, delay=delay)
    else:
        await lifecycle.dead(delivery, attempt)


async def _attempt(
    context: WorkerContext, config: DeliveryConfig, delivery: Delivery, number: int
) -> Outcome:
    """One attempt through the adapter. An adapter that raises has a bug, but one delivery
    must not stall its partition for it: the failure counts as an attempt to retry."""
    payload = Payload(
        delivery_id=delivery.id,
        document_id=delivery.document_id,
        attempt=number,
        content_sha256=delivery.content_sha256,
        transit_sha256=delivery.transit_sha256,
        blobs=context.blobs,
    )
    try:
        settings = context.settings
        resources = Resources(context.http, settings.push_targets, settings.resolved_file_drop_root)
        return await adapter_for(config, resources).deliver(config, payload)
    except Exception as exc:
        logger.exception("the %s adapter failed on delivery %s", config.kind, delivery.id)
        return Retry(None, f"{type(exc).__name__}: {exc}")


def _exhausted(delivery: Delivery, attempt: int, policy: RetryPolicy) -> bool:
    """Past the policy: this many attempts, or this long since it was queued or replayed."""
    too_old = utcnow() - delivery.queued_at > timedelta(seconds=policy.max_age_seconds)
    return attempt >= policy.max_attempts or too_old


def retry_delay(delays: tuple[float, ...], attempt: int, retry_after: float | None) -> float:
    """The wait before attempt `attempt + 1`: the tier's delay with +-20% jitter (so many
    deliveries failing together do not come back together), or longer if asked."""
    delay = delays[min(attempt, len(delays)) - 1] * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)
