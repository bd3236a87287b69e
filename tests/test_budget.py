"""The in-flight byte budget: reserves, waits in arrival order, gives up after its wait."""

from __future__ import annotations

import asyncio

import pytest

from axis.pipeline.budget import BudgetExhausted, ByteBudget


async def until(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0)


async def test_reserves_and_gives_back() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(60, wait=0) == 60
    assert await budget.acquire(40, wait=0) == 40
    assert budget.available == 0
    budget.release(60)
    budget.release(40)
    assert budget.available == 100


async def test_more_than_the_whole_budget_takes_all_of_it() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(10**9, wait=0) == 100
    with pytest.raises(BudgetExhausted):
        await budget.acquire(1, wait=0.01)
    budget.release(100)
    assert await budget.acquire(1, wait=0) == 1


async def test_waiters_are_served_first_come_first_served() -> None:
    """A small request that would fit waits behind a large one that came first."""
    budget = ByteBudget(100)
    await budget.acquire(80, wait=0)
    served: list[str] = []

    async def take(name: str, size: int) -> None:
        await budget.acquire(size, wait=5)
        served.append(name)

    large = asyncio.create_task(take("large", 50))
    await until(lambda: len(budget._waiters) == 1)
    small = asyncio.create_task(take("small", 10))
    await until(lambda: len(budget._waiters) == 2)
    assert served == []  # 20 bytes are free, but the large one is ahead
    budget.release(80)
    await asyncio.gather(large, small)
    assert served == ["large", "small"]
    assert budget.available == 40


async def test_a_wait_that_times_out_leaves_the_queue() -> None:
    """The one that gives up no longer holds back those behind it."""
    budget = ByteBudget(100)
    await budget.acquire(90, wait=0)
    with pytest.raises(BudgetExhausted, match="90 of 100"):
        await budget.acquire(50, wait=0.05)
    assert not budget._waiters
    assert await budget.acquire(10, wait=0) == 10


async def test_a_large_waiter_giving_up_lets_smaller_ones_in() -> None:
    budget = ByteBudget(100)
    await budget.acquire(90, wait=0)
    large = asyncio.create_task(budget.acquire(50, wait=0.05))
    await until(lambda: len(budget._waiters) == 1)
    small = asyncio.create_task(budget.acquire(10, wait=5))
    with pytest.raises(BudgetExhausted):
        await large
    assert await small == 10
    assert budget.available == 0


async def test_a_cancelled_wait_is_a_cancellation_and_takes_nothing() -> None:
    budget = ByteBudget(100)
    await budget.acquire(100, wait=0)
    waiting = asyncio.create_task(budget.acquire(10, wait=5))
    await until(lambda: len(budget._waiters) == 1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not budget._waiters
    budget.release(100)
    assert budget.available == 100


def test_an_empty_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        ByteBudget(0)
