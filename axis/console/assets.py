"""The console's static files under `/ui/static/`: its own scripts and styles, and the
browser libraries vendored from npm (`scripts/vendor-console`, listed in `vendor/VERSIONS`).

Nothing is loaded from a CDN: the axis runs on closed networks. Every file is linked as
`asset_url(name)`, which carries a digest of its content, so browsers may keep it for a year
and still fetch a changed file at once.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/ui/static"
LONG_CACHE = "public, max-age=31536000, immutable"


@cache
def asset_url(name: str) -> str:
    """The URL of static file `name`, versioned by its content."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


class VersionedStaticFiles(StaticFiles):
    """Static files, cached for a year when asked for by a versioned URL."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")

        async def cached_send(message: Message) -> None:
            if versioned and message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"cache-control", LONG_CACHE.encode())]
            await send(message)

        await super().__call__(scope, receive, cached_send)


def static_files() -> VersionedStaticFiles:
    return VersionedStaticFiles(directory=STATIC_DIR)
