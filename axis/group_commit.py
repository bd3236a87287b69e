"""Group commit: what is submitted while a batch is being made durable waits, and goes in
the next batch together, so one transaction, one publish and one fsync serve many callers.

There is no timer: a lone item goes at once (no added latency at low load), and under load
the items that arrive during one batch's commit form the next, so batches grow exactly
as much as the load needs. Each caller still waits until its own item is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Batches of `Item` handed to `commit`, which answers each item in order: a result,
    or an exception for that item alone. If `commit` raises, every item of the batch fails
    with that error."""

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], Awaitable[Sequence[Result | BaseException]]],
        *,
        max_items: int = 256,
    ) -> None:
        self._commit = commit
        self._max_items = max_items
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._draining: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many items wait for the next batch."""
        return len(self._waiting)

    async def submit(self, item: Item) -> Result:
        """Commit `item` with whatever else is waiting; its result once it is durable. A
        caller cancelled meanwhile does not take its item out: it may be committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        self._waiting.append((item, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(future)

    async def settled(self) -> None:
        """Wait until nothing submitted is being committed or waiting: a caller cancelled
        does not wait for its item, so whoever closes what `commit` uses waits here."""
        while self._draining is not None:
            await asyncio.wait({self._draining})

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_items]
                del self._waiting[: self._max_items]
                await self._commit_batch(batch)
        except BaseException as error:  # cancelled: nobody is left to commit what waits
            for _, future in self._waiting:
                if not future.done():
                    future.set_exception(error)
            self._waiting.clear()
            raise
        finally:
            self._draining = None

    async def _commit_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            outcomes = await self._commit([item for item, _ in batch])
        except BaseException as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise  # cancelled or exiting: stop draining
            return
        if len(outcomes) != len(batch):  # pragma: no cover - a bug in `commit`
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} items")
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A caller that was cancelled never reads its future's error: read it here, so asyncio
    does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
