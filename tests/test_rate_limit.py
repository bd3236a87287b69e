"""The per-agency token bucket: bursts allowed, then a rate, each agency on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from axis.api.admission import Admission, Refused
from axis.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_per_agency() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == 0.5
    assert RateLimiter.retry_after_header(wait) == "1"
    assert limiter.acquire("b") == 0.0, "another agency has its own bucket"
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 60
    assert [limiter.acquire("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0], "refills to burst"


# Admission: the in-flight cap per key, its queue, and the bucket behind it.


async def test_admission_caps_in_flight_per_key_and_hands_places_over_in_order() -> None:
    admission = Admission(RateLimiter(rate=1000, burst=1000), max_in_flight=2, max_wait=5)
    release = asyncio.Event()
    order: list[int] = []

    async def request(n: int) -> None:
        async with admission.admitted("a"):
            order.append(n)
            await release.wait()

    tasks = [asyncio.create_task(request(n)) for n in range(5)]
    await _until(lambda: len(order) == 2)
    assert admission.in_flight("a") == 2, "the third and later wait their turn"
    async with admission.admitted("b"):
        assert admission.in_flight("b") == 1, "another key is not held back"
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert admission.in_flight("a") == 0


async def test_admission_refuses_after_the_wait_and_frees_nothing_it_did_not_take() -> None:
    admission = Admission(RateLimiter(rate=1000, burst=1000), max_in_flight=1, max_wait=0.05)
    async with admission.admitted("a"):
        with pytest.raises(Refused) as refused:
            async with admission.admitted("a"):
                pass
        assert refused.value.retry_after > 0
        assert admission.in_flight("a") == 1
    assert admission.in_flight("a") == 0
    async with admission.admitted("a"):
        assert admission.in_flight("a") == 1, "the place is free again"


async def test_admission_refuses_over_the_rate_when_no_token_comes_in_time() -> None:
    clock = Clock()
    admission = Admission(RateLimiter(rate=0.1, burst=2, clock=clock), 10, max_wait=1)
    for _ in range(2):
        async with admission.admitted("a"):
            pass
    with pytest.raises(Refused) as refused:
        async with admission.admitted("a"):
            pass
    assert refused.value.retry_after == pytest.approx(10)
    assert admission.in_flight("a") == 0, "a refused request holds no place"
    clock.now += 10
    async with admission.admitted("a"):
        pass


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    admission = Admission(RateLimiter(rate=1000, burst=1000), max_in_flight=1, max_wait=5)
    entered: list[str] = []

    async def request(name: str) -> None:
        async with admission.admitted("a"):
            entered.append(name)

    async with admission.admitted("a"):
        gone = asyncio.create_task(request("gone"))
        waiting = asyncio.create_task(request("waiting"))
        await _until(lambda: len(admission._waiting.get("a", ())) == 2)
        gone.cancel()
    await waiting
    assert entered == ["waiting"]
    assert admission.in_flight("a") == 0


async def _until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    end = asyncio.get_running_loop().time() + deadline
    while not condition():
        assert asyncio.get_running_loop().time() < end, "condition not met in time"
        await asyncio.sleep(0)
