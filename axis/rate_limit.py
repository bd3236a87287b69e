"""A token bucket per agency, so one agency's burst cannot starve the others.

Buckets live in the process: behind a load balancer with N API processes an agency gets at
most N times its rate, which is what an operator sizes the setting for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`, per key."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 if allowed, else the seconds to wait before a retry."""
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """Whole seconds for `Retry-After`, never 0 (a client would retry at once)."""
        return str(max(1, math.ceil(wait)))
