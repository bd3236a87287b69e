"""Start every worker of this process: the router, the delivery and the retry worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from axis.bus.topics import DELIVERIES, DOCUMENTS
from axis.delivery.retry import retry_forever
from axis.delivery.router import ROUTER_GROUP, route
from axis.delivery.worker import DELIVERY_GROUP, deliver
from axis.hangs import within
from axis.workers.consume import consume_batches, consume_concurrently
from axis.workers.context import WorkerContext

logger = logging.getLogger(__name__)

CANCEL_AGAIN_SECONDS = 1.0
"""How long a cancelled task may take to end before it is asked again."""
DELIVERY_CONCURRENCY = 64
"""Deliveries in progress at once per worker process: slow endpoints wait side by side."""


@asynccontextmanager
async def running_workers(context: WorkerContext) -> AsyncIterator[None]:
    """The workers run in the background while the block runs, and stop with it."""
    router = consume_batches(context.bus, ROUTER_GROUP, [DOCUMENTS], partial(route, context))
    delivery = consume_concurrently(
        context.bus,
        DELIVERY_GROUP,
        [DELIVERIES],
        partial(deliver, context),
        concurrency=DELIVERY_CONCURRENCY,
    )
    work = {"router": router, "delivery": delivery, "delivery-retry": retry_forever(context)}
    try:
        async with background(work):
            yield
    finally:
        async with within("settling the delivery lifecycle"):
            await context.lifecycle.settled()


@asynccontextmanager
async def background(work: Mapping[str, Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Each coroutine of `work` runs as a task named by its key while the block runs; all
    are cancelled after it, and waited for. The one way the axis runs work for the
    lifetime of a block (the workers here, the audit writer in `axis.app`)."""
    tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in work.items()]
    try:
        yield
    finally:
        async with within(f"stopping {', '.join(work)}"):
            await _cancelled(tasks)


async def _cancelled(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has ended, asking again any that runs on: a cancel
    can be swallowed on Python 3.11 (by `wait_for` or `timeout` racing it), and one lost
    cancel must not hang a shutdown."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_SECONDS)
        for task in pending:
            logger.warning("task %s ran on after it was cancelled; cancelling it again", task)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s ended with an error", task, exc_info=task.exception())
