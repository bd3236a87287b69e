"""The per-agency token bucket: bursts allowed, then a rate, each agency on its own."""

from __future__ import annotations

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
