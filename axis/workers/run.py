"""Start every worker of this process: the router, the delivery and the retry worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from axis.bus.topics import DELIVERIES, DOCUMENTS
from axis.workers.consume import consume_forever
from axis.workers.context import WorkerContext
from axis.workers.delivery import DELIVERY_GROUP, deliver
from axis.workers.retry import retry_forever
from axis.workers.router import ROUTER_GROUP, route

DELIVERY_CONCURRENCY = 64
"""Deliveries in progress at once per worker process: slow endpoints wait side by side."""


@asynccontextmanager
async def running_workers(context: WorkerContext) -> AsyncIterator[None]:
    """The workers run in the background while the block runs, and stop with it."""
    tasks = [
        asyncio.create_task(
            consume_forever(context.bus, ROUTER_GROUP, [DOCUMENTS], partial(route, context)),
            name="router",
        ),
        asyncio.create_task(
            consume_forever(
                context.bus,
                DELIVERY_GROUP,
                [DELIVERIES],
                partial(deliver, context),
                concurrency=DELIVERY_CONCURRENCY,
            ),
            name="delivery",
        ),
        asyncio.create_task(retry_forever(context), name="delivery-retry"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
