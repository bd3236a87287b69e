"""Admission per agency: how many of its requests run at once, and how fast they come.

One agency at full speed must not slow the others. Each key (an agency code, or the token
id of an operator or auditor) has at most `max_in_flight` requests running and draws from
its own token bucket; a request over either waits its turn, first come first served within
its key, for up to `max_wait` seconds (between half and all of it: refusals spread out
rather than come in waves), then is refused (429). Waiting costs a flooding client its
connections' time instead of the axis's CPU: a client with N connections gets at most N
refusals per half `max_wait`, and the others' requests never queue behind it.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from axis.rate_limit import RateLimiter

MAX_WAITING = 1024
"""Most requests of one key waiting at once; more are refused at once."""


class Refused(Exception):
    """Over the allowance for longer than the wait: retry after `retry_after` seconds."""

    def __init__(self, retry_after: float, detail: str) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.detail = detail


class Admission:
    """At most `max_in_flight` requests per key at once, at the `limiter`'s rate."""

    def __init__(self, limiter: RateLimiter, max_in_flight: int, max_wait: float) -> None:
        self.limiter = limiter
        self.max_in_flight = max_in_flight
        self.max_wait = max_wait
        self._in_flight: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    @asynccontextmanager
    async def admitted(self, key: str) -> AsyncIterator[None]:
        """Hold one of `key`'s places while the block runs; `Refused` if none came in time."""
        # Between half and all of the wait, at random: requests a flood sent together would
        # otherwise all be refused together, a wave that stalls everyone else's answers.
        deadline = asyncio.get_running_loop().time() + self.max_wait * random.uniform(0.5, 1)
        await self._take_place(key, deadline)
        try:
            await self._take_token(key, deadline)
            yield
        finally:
            self._give_place(key)

    async def _take_place(self, key: str, deadline: float) -> None:
        waiting = self._waiting.get(key)
        if self.in_flight(key) < self.max_in_flight and not waiting:
            self._in_flight[key] = self.in_flight(key) + 1
            return
        waiting = self._waiting.setdefault(key, deque())
        if len(waiting) >= MAX_WAITING:
            raise Refused(self.max_wait or 1, "too many requests of this agency are waiting")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            async with asyncio.timeout_at(deadline):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                self._give_place(key)  # handed over just as the wait ended
            else:
                self._forget(key, turn)
            detail = f"this agency has {self.max_in_flight} requests running; retry later"
            raise Refused(self.max_wait or 1, detail) from None
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._give_place(key)
            else:
                self._forget(key, turn)
            raise

    async def _take_token(self, key: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while wait := self.limiter.acquire(key):
            if loop.time() + wait > deadline:
                detail = f"this agency sends faster than its limit; retry in {wait:.1f} s"
                raise Refused(wait, detail)
            await asyncio.sleep(wait)  # the bucket refills on the clock: nothing to wait on

    def _give_place(self, key: str) -> None:
        """Hand the place to the first waiter still waiting, or free it."""
        waiting = self._waiting.get(key)
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._waiting.pop(key, None)
        self._in_flight[key] -= 1
        if not self._in_flight[key]:
            del self._in_flight[key]

    def _forget(self, key: str, turn: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None and turn in waiting:
            waiting.remove(turn)
            if not waiting:
                del self._waiting[key]
