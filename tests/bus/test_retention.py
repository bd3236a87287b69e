"""The embedded bus prunes old records, and only those every group reading them committed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from axis.bus import Message, Record
from axis.bus.embedded import PRUNE_BATCH, EmbeddedBus, partition_for_key

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def stored(path: Path, topic: str) -> list[tuple[int, int]]:
    """(partition, offset) of every record of `topic` still in the file."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            'SELECT partition, "offset" FROM records WHERE topic = ? ORDER BY 1, 2', (topic,)
        )
        return [(p, o) for p, o in rows]


def age(path: Path, by: timedelta) -> None:
    """Make every record `by` older, as if it had been published that long ago."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE records SET timestamp_ms = timestamp_ms - ?", (by // timedelta(milliseconds=1),)
        )


async def read(bus: EmbeddedBus, group: str, topic: str, count: int) -> list[Record]:
    """The first `count` records `group` gets (from its committed offsets), then it leaves."""
    records: list[Record] = []
    async with bus.consumer(group, [topic]) as consumer:
        while len(records) < count and (batch := await consumer.getmany(max_wait=2.0)):
            records.extend(batch)
    return records


async def commit_first(bus: EmbeddedBus, group: str, topic: str, count: int) -> None:
    async with bus.consumer(group, [topic]) as consumer:
        records: list[Record] = []
        while len(records) < count:
            batch = await consumer.getmany(max_wait=2.0)
            assert batch, f"{group} read only {len(records)} records"
            records.extend(batch)
        await consumer.commit(records[:count])


async def test_only_what_every_group_committed_and_is_old_enough_goes(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("read", 1)
        await bus.create_topic("unread", 1)
        await bus.publish_many([Message("read", b"%d" % i) for i in range(10)])
        await bus.publish_many([Message("unread", b"%d" % i) for i in range(10)])
        await commit_first(bus, "fast", "read", 6)
        await commit_first(bus, "slow", "read", 4)

        assert await bus.prune(WEEK) == 0  # committed, but young
        age(path, WEEK + DAY)
        assert await bus.prune(WEEK) == 4  # what the slower group has committed
        assert stored(path, "read") == [(0, offset) for offset in range(4, 10)]
        assert len(stored(path, "unread")) == 10  # no group committed: kept, however old

        # Each group goes on where it was; a new one starts at the oldest record kept.
        assert [r.offset for r in await read(bus, "slow", "read", 6)] == list(range(4, 10))
        assert [r.offset for r in await read(bus, "new", "read", 6)] == list(range(4, 10))
        assert (await bus.publish("read", b"10")).offset == 10
        [lag] = await bus.lag("slow", ["read"])
        assert (lag.committed, lag.end_offset) == (4, 11)


async def test_a_partition_a_group_has_not_committed_on_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    first, second = (
        next(bytes([i]) for i in range(256) if partition_for_key(bytes([i]), 2) == p)
        for p in (0, 1)
    )
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("t", 2)
        await bus.publish_many([Message("t", b"x", key=first) for _ in range(5)])
        await commit_first(bus, "g", "t", 5)  # on partition 0 only
        await bus.publish_many([Message("t", b"y", key=second) for _ in range(5)])
        age(path, WEEK + DAY)

        assert await bus.prune(WEEK) == 5
        assert stored(path, "t") == [(1, offset) for offset in range(5)]


async def test_pruning_goes_in_batches_and_gives_the_space_back(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    count = PRUNE_BATCH * 2 + 7
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("t", 1)
        await bus.publish_many([Message("t", bytes(8192)) for _ in range(count)])
        await commit_first(bus, "g", "t", count)
        age(path, WEEK + DAY)
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size
        assert await bus.prune(WEEK) == count
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert stored(path, "t") == []
        assert path.stat().st_size < before - count * 8192 * 0.9


async def test_the_bus_prunes_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    async with EmbeddedBus(path, retention=timedelta(seconds=0.2)) as bus:
        await bus.create_topic("t", 1)
        await bus.publish_many([Message("t", b"x") for _ in range(3)])
        await commit_first(bus, "g", "t", 2)
        deadline = time.monotonic() + 10
        while len(stored(path, "t")) > 1:
            assert time.monotonic() < deadline, "nothing was pruned"
            await asyncio.sleep(0.05)
        assert stored(path, "t") == [(0, 2)]
