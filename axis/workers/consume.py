"""The consume loops the workers share: handle records, then commit what is done.

A handler that fails leaves its record uncommitted; the consumer is closed and reopened, so
the group hands it out again (at-least-once), after a pause that grows while the failure
lasts. Handlers are idempotent on the ids the records carry.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from axis.bus import Bus, Consumer, Record, TopicPartition

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
Handler = Callable[[Record], Coroutine[Any, Any, None]]


async def consume_forever(
    bus: Bus, group: str, topics: Sequence[str], handle: Handler, *, concurrency: int = 1
) -> None:
    """Run until cancelled. With `concurrency` > 1, up to that many records are handled at
    once (a slow one holds up no other); offsets are committed only up to the first record
    of each partition that is not done yet."""
    backoff = 0.5

    def committed() -> None:
        """Records went through: the next failure starts again from the shortest pause."""
        nonlocal backoff
        backoff = 0.5

    while True:
        try:
            async with bus.consumer(group, topics) as consumer:
                if concurrency == 1:
                    await _one_at_a_time(consumer, handle, committed)
                else:
                    await _concurrently(consumer, handle, concurrency, committed)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("worker %s failed; its records will be read again", group)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


async def _one_at_a_time(
    consumer: Consumer, handle: Handler, committed: Callable[[], None]
) -> None:
    while True:
        records = await consumer.getmany(max_wait=1.0)
        for record in records:
            await handle(record)
        if records:
            await consumer.commit(records)
            committed()


async def _concurrently(
    consumer: Consumer, handle: Handler, concurrency: int, committed: Callable[[], None]
) -> None:
    in_flight: dict[TopicPartition, deque[tuple[Record, asyncio.Task[None]]]] = {}
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
            finished = []
            for queue in in_flight.values():
                while queue and queue[0][1].done():
                    record, task = queue.popleft()
                    task.result()  # a failure restarts the consumer; nothing is committed
                    finished.append(record)
            if finished:
                await consumer.commit(finished)
                committed()
    finally:
        # Wait for them too: a handler cancelled mid-query must be done with its database
        # connection before the engine is disposed, not run on beside the shutdown.
        tasks = [task for queue in in_flight.values() for _, task in queue]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
