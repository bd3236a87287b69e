"""The Bus contract: every engine must pass this suite unchanged."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from axis.bus import Bus, Consumer, Message, Record, TopicPartition

DEADLINE = 60.0


async def read_until(consumer: Consumer, count: int, deadline: float = DEADLINE) -> list[Record]:
    """Read until `count` records arrived; fail if the deadline passes first."""
    records: list[Record] = []
    end = time.monotonic() + deadline
    while len(records) < count:
        assert time.monotonic() < end, f"only {len(records)} of {count} records arrived"
        records.extend(await consumer.getmany(max_wait=0.5))
    return records


async def wait_for_assignment(consumer: Consumer, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not consumer.assignment():
        assert time.monotonic() < end, "the consumer was never assigned a partition"
        await consumer.getmany(max_wait=0.2)


async def test_same_key_keeps_order_and_partition(bus: Bus) -> None:
    await bus.create_topic("orders", partitions=4)
    keys = [f"agency-{n}".encode() for n in range(6)]
    messages = [Message("orders", f"{i}".encode(), key=keys[i % len(keys)]) for i in range(300)]
    positions = await bus.publish_many(messages)
    assert len({p.partition for p in positions}) > 1, "keys should spread over partitions"

    async with bus.consumer("readers", ["orders"]) as consumer:
        records = await read_until(consumer, 300)

    by_key: dict[bytes | None, list[int]] = defaultdict(list)
    partitions_of_key: dict[bytes | None, set[int]] = defaultdict(set)
    for record in records:
        by_key[record.key].append(int(record.value))
        partitions_of_key[record.key].add(record.partition)
    for key in keys:
        assert by_key[key] == sorted(by_key[key])
        assert len(by_key[key]) == 50
        assert len(partitions_of_key[key]) == 1


async def test_publish_returns_positions_in_input_order(bus: Bus) -> None:
    await bus.create_topic("positions", partitions=1)
    first = await bus.publish("positions", b"a", key=b"k")
    rest = await bus.publish_many([Message("positions", b"b", b"k"), Message("positions", b"c")])
    assert [first.offset, rest[0].offset, rest[1].offset] == [0, 1, 2]


async def test_uncommitted_records_come_again_to_the_next_member(bus: Bus) -> None:
    await bus.create_topic("work", partitions=1)
    await bus.publish_many([Message("work", f"{i}".encode(), b"k") for i in range(10)])

    async with bus.consumer("workers", ["work"]) as first:
        records = await read_until(first, 10)
        await first.commit(records[:4])
        # `first` stops without committing the other six, as a crashed worker would.

    async with bus.consumer("workers", ["work"]) as second:
        again = await read_until(second, 6)
        assert [int(r.value) for r in again[:6]] == [4, 5, 6, 7, 8, 9]


async def test_committed_records_are_not_read_again(bus: Bus) -> None:
    await bus.create_topic("done", partitions=2)
    await bus.publish_many([Message("done", f"{i}".encode(), f"{i}".encode()) for i in range(8)])
    async with bus.consumer("g", ["done"]) as consumer:
        await consumer.commit(await read_until(consumer, 8))

    await bus.publish_many([Message("done", b"new-1", b"1"), Message("done", b"new-2", b"2")])
    async with bus.consumer("g", ["done"]) as consumer:
        records = await read_until(consumer, 2)
        assert sorted(r.value for r in records) == [b"new-1", b"new-2"]
        assert await consumer.getmany(max_wait=0.5) == []


async def test_two_members_share_the_partitions(bus: Bus) -> None:
    await bus.create_topic("shared", partitions=4)
    async with bus.consumer("pair", ["shared"]) as one, bus.consumer("pair", ["shared"]) as two:
        everything = {TopicPartition("shared", p) for p in range(4)}
        end = time.monotonic() + DEADLINE
        while not (
            one.assignment()
            and two.assignment()
            and one.assignment().isdisjoint(two.assignment())
            and one.assignment() | two.assignment() == everything
        ):
            assert time.monotonic() < end, (one.assignment(), two.assignment())
            await asyncio.gather(one.getmany(max_wait=0.2), two.getmany(max_wait=0.2))

        await bus.publish_many(
            [Message("shared", f"{i}".encode(), f"key-{i}".encode()) for i in range(40)]
        )
        got: dict[str, list[Record]] = {"one": [], "two": []}
        while len(got["one"]) + len(got["two"]) < 40:
            assert time.monotonic() < end, "not every record arrived"
            a, b = await asyncio.gather(one.getmany(max_wait=0.2), two.getmany(max_wait=0.2))
            got["one"] += a
            got["two"] += b
        assert got["one"] and got["two"], "both members should have received records"
        assert {r.partition for r in got["one"]}.isdisjoint({r.partition for r in got["two"]})
        assert sorted(int(r.value) for r in got["one"] + got["two"]) == list(range(40))


async def test_lag_per_partition(bus: Bus) -> None:
    await bus.create_topic("lagging", partitions=2)
    positions = await bus.publish_many(
        [Message("lagging", f"{i}".encode(), f"k{i}".encode()) for i in range(10)]
    )
    end_offsets = {p: 0 for p in range(2)}
    for position in positions:
        end_offsets[position.partition] = max(end_offsets[position.partition], position.offset + 1)

    before = await bus.lag("lagging-group", ["lagging"])
    assert [(lag.partition, lag.committed, lag.lag) for lag in before] == [
        (p, None, end_offsets[p]) for p in range(2)
    ]

    async with bus.consumer("lagging-group", ["lagging"]) as consumer:
        records = await read_until(consumer, 10)
        first_partition = [r for r in records if r.partition == 0]
        await consumer.commit(first_partition[:2])

    after = {lag.partition: lag for lag in await bus.lag("lagging-group", ["lagging"])}
    assert after[0].committed == 2
    assert after[0].end_offset == end_offsets[0]
    assert after[0].lag == end_offsets[0] - 2
    assert after[1].committed is None
    assert after[1].lag == end_offsets[1]


async def test_large_values_and_headers_round_trip(bus: Bus) -> None:
    await bus.create_topic("big", partitions=1)
    value = bytes(range(256)) * 4096  # 1 MiB
    headers = (("delivery-id", b"d-1"), ("binary", b"\x00\xff\x10"), ("delivery-id", b"d-2"))
    await bus.publish("big", value, key=b"doc-1", headers=headers)
    await bus.publish("big", b"", key=None)
    async with bus.consumer("big-readers", ["big"]) as consumer:
        first, second = await read_until(consumer, 2)
    assert first.value == value
    assert first.key == b"doc-1"
    assert first.headers == headers
    assert (second.value, second.key, second.headers) == (b"", None, ())


async def test_paused_partition_is_not_read_until_resumed(bus: Bus) -> None:
    await bus.create_topic("retry", partitions=1)
    async with bus.consumer("retriers", ["retry"]) as consumer:
        await wait_for_assignment(consumer)
        partition = TopicPartition("retry", 0)
        consumer.pause(partition)
        await bus.publish("retry", b"later", key=b"k")
        assert await consumer.getmany(max_wait=1.0) == []
        consumer.resume(partition)
        [record] = await read_until(consumer, 1)
        assert record.value == b"later"


async def test_creating_an_existing_topic_changes_nothing(bus: Bus) -> None:
    await bus.create_topic("twice", partitions=2)
    await bus.publish("twice", b"kept", key=b"k")
    await bus.create_topic("twice", partitions=5)
    lags = await bus.lag("nobody", ["twice"])
    assert [lag.partition for lag in lags] == [0, 1]
    assert sum(lag.end_offset for lag in lags) == 1
