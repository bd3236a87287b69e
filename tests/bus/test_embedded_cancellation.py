"""A consumer of the embedded bus stops when it is cancelled, whatever else happens at once.

Python 3.11's `asyncio.wait_for` returns the inner result, swallowing the cancellation,
when the awaited thing completes in the same loop turns as the cancel arrives. The
embedded consumer waits for a publish that way, so a worker cancelled just as a record was
published kept running, and the app's shutdown (which waits for its workers) hung."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from axis.bus.embedded import EmbeddedBus


@pytest.mark.parametrize("turns", range(4))
async def test_a_wait_for_a_publish_obeys_a_cancel_that_lands_with_the_publish(
    tmp_path: Path, turns: int
) -> None:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:

        async def wait_forever() -> None:  # as a consumer's getmany does between polls
            while True:
                await bus.wait_for_publish(30.0)

        waiting = asyncio.create_task(wait_forever())
        for _ in range(3):
            await asyncio.sleep(0)  # now blocked on the publish event
        # What a publish does once its batch is durable: wake the waiters, arm a new event.
        published, bus._published = bus._published, asyncio.Event()
        published.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        waiting.cancel()
        done, _ = await asyncio.wait([waiting], timeout=5)
        assert done == {waiting}, "the cancelled wait ran on"
        assert waiting.cancelled()
