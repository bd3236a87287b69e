"""The consume loop every worker shares: read a batch, handle each record, then commit.

A handler that fails leaves the batch uncommitted; the consumer is closed and reopened, so
the group hands the same records out again (at-least-once), after a pause that grows while
the failure lasts. Handlers are idempotent on the ids the records carry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from axis.bus import Bus, Record

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


async def consume_forever(
    bus: Bus,
    group: str,
    topics: Sequence[str],
    handle: Callable[[Record], Awaitable[None]],
) -> None:
    """Run until cancelled."""
    backoff = 0.5
    while True:
        try:
            async with bus.consumer(group, topics) as consumer:
                while True:
                    records = await consumer.getmany(max_wait=1.0)
                    for record in records:
                        await handle(record)
                    if records:
                        await consumer.commit(records)
                        backoff = 0.5
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("worker %s failed; its records will be read again", group)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
