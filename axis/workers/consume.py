"""The consume loops the workers share: handle records, then commit what is done.

A handler that fails leaves its records uncommitted; the consumer is closed and reopened, so
the group hands them out again (at-least-once), after a pause that grows while the failure
lasts (`axis.backoff`). Handlers are idempotent on the ids the records carry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from axis.backoff import Backoff
from axis.bus import Bus, Consumer, Record, TopicPartition

logger = logging.getLogger(__name__)

COMMIT_EVERY_SECONDS = 0.2
"""How often a concurrent consumer commits what is done while records keep coming: an
offset commit is a round trip (Kafka) or an fsync (embedded), too dear for every record. A
crash reads again at most this much more, which idempotent handlers take in their stride."""
Handler = Callable[[Record], Coroutine[Any, Any, None]]
BatchHandler = Callable[[Sequence[Record]], Coroutine[Any, Any, None]]
Loop = Callable[[Consumer, Callable[[], None]], Coroutine[Any, Any, None]]


async def consume_batches(
    bus: Bus, group: str, topics: Sequence[str], handle: BatchHandler
) -> None:
    """Run until cancelled: the records of each `getmany` are handled together, then
    committed together."""

    async def loop(consumer: Consumer, committed: Callable[[], None]) -> None:
        while True:
            records = await consumer.getmany(max_wait=1.0)
            if records:
                await handle(records)
                await consumer.commit(records)
                committed()

    await _forever(bus, group, topics, loop)


async def consume_concurrently(
    bus: Bus, group: str, topics: Sequence[str], handle: Handler, *, concurrency: int
) -> None:
    """Run until cancelled, up to `concurrency` records handled at once (a slow one holds up
    no other); offsets are committed only up to the first record of each partition that is
    not done yet."""

    async def loop(consumer: Consumer, committed: Callable[[], None]) -> None:
        await _concurrently(consumer, handle, concurrency, committed)

    await _forever(bus, group, topics, loop)


async def _forever(bus: Bus, group: str, topics: Sequence[str], loop: Loop) -> None:
    """Run `loop` on a member of `group`; after a failure, a new member, after a pause."""
    backoff = Backoff()
    while True:
        try:
            async with bus.consumer(group, topics) as consumer:
                await loop(consumer, backoff.reset)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("worker %s failed; its records will be read again", group)
            await backoff.pause()


async def _concurrently(
    consumer: Consumer, handle: Handler, concurrency: int, committed: Callable[[], None]
) -> None:
    in_flight: dict[TopicPartition, deque[tuple[Record, asyncio.Task[None]]]] = {}
    finished: list[Record] = []
    commit_at = time.monotonic() + COMMIT_EVERY_SECONDS
    try:
        while True:
            running = [task for queue in in_flight.values() for _, task in queue]
            if len(running) >= concurrency:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            else:
                wait = 0.05 if running else 1.0
                for record in await consumer.getmany(
                    max_wait=wait, max_records=concurrency - len(running)
                ):
                    task = asyncio.create_task(handle(record))
                    in_flight.setdefault(record.topic_partition, deque()).append((record, task))
            for queue in in_flight.values():
                while queue and queue[0][1].done():
                    record, task = queue.popleft()
                    task.result()  # a failure restarts the consumer; nothing more is committed
                    finished.append(record)
            idle = not any(in_flight.values())
            if finished and (idle or time.monotonic() >= commit_at):
                await consumer.commit(finished)
                finished = []
                commit_at = time.monotonic() + COMMIT_EVERY_SECONDS
                committed()
    finally:
        # Wait for them too: a handler cancelled mid-query must be done with its database
        # connection before the engine is disposed, not run on beside the shutdown.
        tasks = [task for queue in in_flight.values() for _, task in queue]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
