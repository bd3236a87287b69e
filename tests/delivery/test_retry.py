"""The retry worker's step (`run_due`), on an in-process stand-in for one bus consumer."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable

from axis.bus import Record, TopicPartition
from axis.delivery.lifecycle import NOT_BEFORE_HEADER
from axis.delivery.retry import run_due

DUE = TopicPartition("deliveries.retry.1", 0)
LATER = TopicPartition("deliveries.retry.1", 1)


class Consumer:
    """What `run_due` asks of a consumer: commit, pause, resume (noted, nothing else)."""

    def __init__(self) -> None:
        self.committed: list[Record] = []
        self.paused: set[TopicPartition] = set()

    async def commit(self, records: Iterable[Record] = ()) -> None:
        self.committed += records

    def pause(self, partition: TopicPartition) -> None:
        self.paused.add(partition)

    def resume(self, partition: TopicPartition) -> None:
        self.paused.discard(partition)


def record(partition: TopicPartition, offset: int, not_before: float) -> Record:
    header = (NOT_BEFORE_HEADER, str(int(not_before * 1000)).encode())
    return Record(partition.topic, partition.partition, offset, None, b"{}", (header,))


async def test_due_retries_run_side_by_side_and_the_rest_wait_paused() -> None:
    now = time.time()
    due = [record(DUE, n, now - 1) for n in range(5)]
    later = record(LATER, 0, now + 60)
    held = {DUE: deque(due), LATER: deque([later])}
    consumer = Consumer()
    started: list[Record] = []
    all_started = asyncio.Event()

    async def handle(each: Record) -> None:
        started.append(each)
        if len(started) == len(due):
            all_started.set()
        await all_started.wait()  # one at a time, the first would wait here forever

    async with asyncio.timeout(5):
        wait = await run_due(consumer, held, handle)  # type: ignore[arg-type]
    assert sorted(r.offset for r in started) == [r.offset for r in due]
    assert consumer.committed == due
    assert consumer.paused == {LATER}
    assert held == {DUE: deque(), LATER: deque([later])}
    assert 0 < wait <= 0.5
