"""The HTTP server of `axis serve`: uvicorn, which ends the app's long answers first.

On a signal uvicorn stops accepting, then waits for every open answer to finish before it
shuts the app down; a live stream (the console's overview) never finishes by itself, so
the app's `stopping` event is set as soon as the signal arrives, and such streams end.
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
    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self.stopping = stopping
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.loop is not None:  # a signal handler: hand the event to the loop
            self.loop.call_soon_threadsafe(self.stopping.set)
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
    _Server(config, app.state.stopping).run(None if listening is None else [listening])


def bind(settings: Settings, host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` as uvicorn would bind it, inheritable by children."""
    config = uvicorn.Config("unused:app", host=host, port=port, log_level=settings.log_level)
    return config.bind_socket()
