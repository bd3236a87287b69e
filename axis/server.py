"""The HTTP server of `axis serve`: uvicorn, which drains before it stops.

On a signal the app's `stopping` event is set at once: `/readyz` answers 503 and the long
answers that never finish by themselves (the console's live streams) end. The server goes on
accepting for `AXIS_SERVE_DRAIN_SECONDS`, long enough for a load balancer's health check to
take it out of rotation, so no request is sent to a port about to close; then uvicorn stops
accepting and waits for every open answer to finish before it shuts the app down. A second
signal skips what is left of the wait.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from axis.api.header_deadline import with_header_deadline
from axis.config import Settings


class _Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, stopping: asyncio.Event, drain_seconds: float
    ) -> None:
        super().__init__(config)
        self.stopping = stopping
        self.drain_seconds = drain_seconds
        self.draining = False
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.loop is None:  # not serving yet: nothing to drain
            super().handle_exit(sig, frame)
            return
        # A signal handler: hand the event to the loop.
        self.loop.call_soon_threadsafe(self.stopping.set)
        if self.draining or not self.drain_seconds:
            super().handle_exit(sig, frame)
            return
        self.draining = True
        self.loop.call_soon_threadsafe(
            self.loop.call_later, self.drain_seconds, self._drained, sig, frame
        )

    def _drained(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:  # unless a second signal has stopped it already
            super().handle_exit(sig, frame)


def run_server(
    app: FastAPI,
    settings: Settings,
    host: str,
    port: int,
    listening: socket.socket | None = None,
) -> None:
    """Serve `app` (made by `axis.app.create_app`) until SIGINT or SIGTERM, on a new socket
    bound to `host`:`port` or on `listening`, one a parent bound (`axis.processes`)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        http=with_header_deadline(settings.header_timeout_seconds),
    )
    server = _Server(config, app.state.stopping, settings.serve_drain_seconds)
    server.run(None if listening is None else [listening])


def bind(settings: Settings, host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` as uvicorn would bind it, inheritable by children."""
    config = uvicorn.Config("unused:app", host=host, port=port, log_level=settings.log_level)
    return config.bind_socket()
