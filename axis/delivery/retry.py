"""The retry worker: attempts a delivery again once its not-before time has come.

Every record in one retry topic waits as long, so a partition's head is the first one due:
the worker holds the records it fetched, pauses a partition whose head is not due yet (so
the bus stops handing it out), and resumes it when it is. Nothing sleeps past its poll
interval, and a waiting retry never holds up a first attempt (those are on another topic).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from axis.backoff import Backoff
from axis.bus import Consumer, Record, TopicPartition
from axis.bus.topics import RETRY_TIERS
from axis.delivery.lifecycle import NOT_BEFORE_HEADER
from axis.delivery.worker import deliver
from axis.workers.context import WorkerContext

logger = logging.getLogger(__name__)

RETRY_GROUP = "delivery-retry"
POLL_SECONDS = 0.5
RETRY_CONCURRENCY = 64
"""Due retries attempted at once: an agency back after an outage has many due together."""


def not_before(record: Record) -> float:
    value = dict(record.headers).get(NOT_BEFORE_HEADER)
    return int(value) / 1000 if value else 0.0


async def run_due(
    consumer: Consumer,
    held: dict[TopicPartition, deque[Record]],
    handle: Callable[[Record], Awaitable[None]],
) -> float:
    """Handle every held record that is due, side by side (at most `RETRY_CONCURRENCY` at
    once), then commit them; pause partitions whose head is not due. Returns how long until
    the next one is due (at most the poll interval)."""
    now = time.time()
    wait = POLL_SECONDS
    due: list[Record] = []
    for partition, queue in held.items():
        while queue and not_before(queue[0]) <= now:
            due.append(queue.popleft())
        if queue:
            consumer.pause(partition)
            wait = min(wait, max(0.0, not_before(queue[0]) - now))
        else:
            consumer.resume(partition)
    for start in range(0, len(due), RETRY_CONCURRENCY):
        await asyncio.gather(*(handle(record) for record in due[start : start + RETRY_CONCURRENCY]))
    if due:
        await consumer.commit(due)
    return wait


async def retry_forever(context: WorkerContext) -> None:
    """Run until cancelled; on a failure the consumer is reopened and nothing is lost."""
    backoff = Backoff()
    while True:
        try:
            async with context.bus.consumer(RETRY_GROUP, RETRY_TIERS) as consumer:
                held: dict[TopicPartition, deque[Record]] = {}
                wait = POLL_SECONDS
                while True:
                    for record in await consumer.getmany(max_wait=wait):
                        held.setdefault(record.topic_partition, deque()).append(record)
                    for partition in set(held) - consumer.assignment():
                        del held[partition]  # revoked: its new owner reads it again
                    wait = await run_due(consumer, held, lambda r: deliver(context, r))
                    backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the retry worker failed; its records will be read again")
            await backoff.pause()
