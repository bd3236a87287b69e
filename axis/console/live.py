"""Live figures: one task per process samples them, an hour of samples is kept, and every
open overview streams them as server-sent events.

One stream per page with named events, each with an `id:` (the sample's `seq`), so a page
that reconnects sends `Last-Event-ID` and gets what it missed, still in the ring. A stream
ends when its client goes away (the next write fails) and when the server begins to stop
(`stopping`, set by `axis serve` before uvicorn waits for open answers to finish, and at
the app's shutdown): a live stream never holds a shutdown up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from axis.console.figures import Figures, Sample

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
"""A comment this often on an idle stream, so proxies and the client keep it open."""


def sse(event: str, data: str, event_id: int | None = None) -> bytes:
    """One server-sent event; `data` may span lines."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


class Live:
    """The ring of samples and the streams that follow it."""

    def __init__(self, figures: Figures, interval: float, stopping: asyncio.Event) -> None:
        self.figures = figures
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=max(1, round(3600 / interval)))
        self.stopping = stopping
        self.rendered: dict[tuple[object, ...], str] = {}
        """Views of the latest sample, made once for all its streams (keys hold its seq)."""
        self._fresh = asyncio.Event()

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    async def current(self) -> Sample:
        """The latest sample, measured now if none has been taken yet."""
        if not self.samples:
            await self.sample()
        return self.samples[-1]

    async def sample(self) -> None:
        self.samples.append(await self.figures.measure())
        self.rendered.clear()
        fresh, self._fresh = self._fresh, asyncio.Event()
        fresh.set()  # every stream waiting for a new sample

    async def sample_forever(self) -> None:
        """Take a sample every `interval` seconds until cancelled."""
        while True:
            try:
                await self.sample()
            except Exception:  # a database or bus hiccup: the next sample tries again
                logger.warning("the overview could not sample its figures", exc_info=True)
            await asyncio.sleep(self.interval)  # the sampling period itself

    def after(self, seq: int) -> list[Sample]:
        """The samples in the ring taken after `seq`."""
        return [sample for sample in self.samples if sample.seq > seq]

    async def stream(self, after: int, render: Callable[[Sample], str]) -> AsyncIterator[bytes]:
        """Events for one page: a `sample` (JSON, for the charts) per sample after `after`,
        then the `figures` (HTML, by `render`) of the latest; until the server stops."""
        sent = after
        yield b"retry: 3000\n\n"
        while not self.stopping.is_set():
            fresh = self._fresh
            missed = self.after(sent)
            for sample in missed:
                yield sse("sample", sample_json(sample), sample.seq)
            if missed:
                latest = missed[-1]
                yield sse("figures", render(latest), latest.seq)
                sent = latest.seq
            if not await self._wait(fresh):
                yield b": keep-alive\n\n"

    async def _wait(self, fresh: asyncio.Event) -> bool:
        """Wait for a sample after `fresh` was current, or stopping; False on a timeout."""
        waits = [asyncio.ensure_future(fresh.wait()), asyncio.ensure_future(self.stopping.wait())]
        try:
            done, _ = await asyncio.wait(
                waits, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()
        return bool(done)


def sample_json(sample: Sample) -> str:
    return json.dumps(sample.to_json(), separators=(",", ":"))
