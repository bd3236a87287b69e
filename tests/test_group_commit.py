"""Group commit: items that arrive during a commit share the next one; errors stay per item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from axis.group_commit import GroupCommit


class Recorder:
    """A commit that holds each batch until released, so a test decides what arrives when."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def commit(self, items: Sequence[int]) -> list[int | BaseException]:
        async with self.arrived:
            self.batches.append(list(items))
            self.arrived.notify_all()
        await self.release.wait()
        self.release.clear()
        return [ValueError(item) if item < 0 else item * 10 for item in items]


async def _until(recorder: Recorder, batches: list[list[int]]) -> None:
    """Until the batches committed so far are `batches` (or fail after 5 s)."""
    async with asyncio.timeout(5.0), recorder.arrived:
        await recorder.arrived.wait_for(lambda: recorder.batches == batches)


async def test_a_lone_item_goes_at_once_and_later_ones_share_the_next_batch() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.commit)
    first = asyncio.create_task(group.submit(1))
    await _until(recorder, [[1]])
    rest = [asyncio.create_task(group.submit(n)) for n in (2, 3, 4)]
    recorder.release.set()
    assert await first == 10
    await _until(recorder, [[1], [2, 3, 4]])
    recorder.release.set()
    assert await asyncio.gather(*rest) == [20, 30, 40]
    assert recorder.batches == [[1], [2, 3, 4]]


async def test_an_error_for_one_item_fails_only_its_caller() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.commit)
    tasks = [asyncio.create_task(group.submit(n)) for n in (5, -1, 6)]
    await _until(recorder, [[5, -1, 6]])
    recorder.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 50 and results[2] == 60
    assert isinstance(results[1], ValueError)


async def test_a_failed_commit_fails_its_whole_batch_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def commit(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(commit)
    with pytest.raises(RuntimeError, match="database gone"):
        await group.submit(1)
    assert await group.submit(2) == 2


async def test_batches_are_at_most_max_items() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.commit, max_items=2)
    tasks = [asyncio.create_task(group.submit(n)) for n in range(5)]
    for done in ([[0, 1]], [[0, 1], [2, 3]], [[0, 1], [2, 3], [4]]):
        await _until(recorder, done)
        recorder.release.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40]


async def test_a_cancelled_caller_leaves_its_item_to_be_committed() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.commit)
    task = asyncio.create_task(group.submit(7))
    await _until(recorder, [[7]])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other = asyncio.create_task(group.submit(8))
    recorder.release.set()
    await _until(recorder, [[7], [8]])
    recorder.release.set()
    assert await other == 80


async def test_settled_waits_for_what_cancelled_callers_left() -> None:
    """Whoever closes what `commit` uses waits until the items of callers cancelled
    meanwhile (a worker stopping) are committed, and those queued behind them."""
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.commit)
    await group.settled()  # nothing submitted: at once
    cancelled = asyncio.create_task(group.submit(1))
    await _until(recorder, [[1]])
    behind = asyncio.create_task(group.submit(2))
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    settled = asyncio.create_task(group.settled())
    recorder.release.set()
    await _until(recorder, [[1], [2]])
    assert not settled.done()
    recorder.release.set()
    await asyncio.wait_for(settled, 5.0)
    assert await behind == 20
