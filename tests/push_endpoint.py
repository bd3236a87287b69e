"""Push endpoints for tests: a real HTTP server on loopback (an ASGI app served by uvicorn),
and a push receiver that fails or answers slowly on purpose."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import uvicorn
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.receiver import PushAttempt, PushReceiver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its SIGINT and SIGTERM handlers: it took them over while it
    served, so a Ctrl-C or SIGTERM meant for the test (or bench/faults.py) stopped only this
    endpoint, and the run went on without it."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serving(app: ASGIApp, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 while the block runs; yields its URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    end = time.monotonic() + 30
    while not server.started:
        assert not task.done(), "the endpoint did not start"
        assert time.monotonic() < end, "the endpoint did not start in time"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await task


class FaultyReceiver(PushReceiver):
    """A `PushReceiver` that fails or answers slowly on purpose, to exercise the axis's
    retries, timeouts and dead letters (the shipped receiver has no such options).

    `fail_first` answers the first N requests with `fail_status` (503) before reading
    them, with `Retry-After: <retry_after>` when given; `delay` seconds are waited before
    answering each of the first `delay_first` requests (all of them when None).
    """

    def __init__(
        self,
        directory: Path,
        secret: str,
        *,
        fail_first: int = 0,
        fail_status: int = 503,
        retry_after: int | None = None,
        delay: float = 0.0,
        delay_first: int | None = None,
    ) -> None:
        super().__init__(directory, secret)
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.delay = delay
        self.delay_first = delay_first
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        self.requests += 1
        number = self.requests
        if self.delay > 0 and (self.delay_first is None or number <= self.delay_first):
            await asyncio.sleep(self.delay)
        if number > self.fail_first:
            await super().__call__(scope, receive, send)
            return
        failure = JSONResponse(
            {"title": "Failing on purpose", "status": self.fail_status, "detail": f"#{number}"},
            status_code=self.fail_status,
            media_type="application/problem+json",
        )
        if self.retry_after is not None:
            failure.headers["Retry-After"] = str(self.retry_after)
        self.attempts.append(PushAttempt.of(Headers(scope=scope), self.fail_status, stored=False))
        await failure(scope, receive, send)
