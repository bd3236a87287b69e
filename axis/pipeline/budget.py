"""A process-wide budget of request-body bytes in flight: what bounds ingest's memory.

Why: one document costs about twice its size in memory while it is parsed and verified, and
nothing else limits how many arrive at once; 200 concurrent 64 MiB sends would need far more
than a machine has. Each send reserves its declared size (or the largest envelope allowed,
when it declares none) before its body is read, and gives it back when its answer is ready.
Waiters are served strictly in arrival order, so a stream of small sends cannot starve a
large one; one that waits longer than it may gets `BudgetExhausted` (a 503 upstream).
"""

from __future__ import annotations

import asyncio
from collections import deque


class BudgetExhausted(Exception):
    """No room in the budget within the wait allowed."""


class ByteBudget:
    """An async semaphore counted in bytes, fair (first come, first served)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the budget must hold at least one byte")
        self.capacity = capacity
        self.available = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _clamped(self, size: int) -> int:
        """A request larger than the whole budget takes all of it (and so runs alone)."""
        return max(0, min(size, self.capacity))

    async def acquire(self, size: int, wait: float) -> int:
        """Reserve `size` bytes, waiting at most `wait` seconds behind earlier requests;
        returns what was reserved (give exactly that to `release`)."""
        size = self._clamped(size)
        if not self._waiters and size <= self.available:
            self.available -= size
            return size
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), wait)
        except BaseException as stopped:  # the wait timed out, or the request went away
            if waiter.done() and not waiter.cancelled():
                self.release(size)  # granted just as the wait ended: give it back
            else:
                waiter.cancel()
                self._waiters.remove(entry)
                self._wake()  # a large request leaving the head may let smaller ones in
            if isinstance(stopped, TimeoutError):
                raise BudgetExhausted(
                    f"{self.capacity - self.available} of {self.capacity} body bytes are in flight"
                ) from None
            raise
        return size

    def release(self, size: int) -> None:
        """Give back bytes reserved by `acquire`."""
        self.available += size
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.available:
            size, waiter = self._waiters.popleft()
            self.available -= size
            waiter.set_result(None)
