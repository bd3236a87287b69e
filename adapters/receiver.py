"""A small push endpoint an agency runs to receive deliveries from the axis.

Why it exists: an agency on push delivery needs an HTTPS endpoint that checks the axis's
signature (`schemas.push_format`: HMAC over the delivery id, document id, timestamp and
body), refuses replays (a timestamp more than 5 minutes off, or other parts under a
delivery id it has stored), drops repeats by delivery id (the axis retries until it hears
a 2xx, so the same delivery may come several times) and keeps what it received where its
DMS picks it up.

Stored per delivery, each file written whole or not at all (temporary file, fsync,
rename): `<delivery_id>.evidence.xml` (the axis's transit record), then
`<delivery_id>.edxml` (the envelope as the sender signed it). The `.edxml` file is written
last, so its presence means the delivery is complete. Verify what was stored with
`adapters.verification.verify_delivery` (or `AgencyClient.verify_delivered`).

Run it with uvicorn: `AXIS_PUSH_DIR=/srv/inbox AXIS_PUSH_SECRET=... uvicorn --factory
adapters.receiver:app_from_environment`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from adapters.verification import Delivered
from schemas.files import delivered_ids, delivery_paths, write_delivery
from schemas.push_format import (
    ATTEMPT_HEADER,
    DELIVERY_ID_HEADER,
    PushParts,
    PushRefused,
    PushRequest,
    verify_push_request,
)

DEFAULT_MAX_BODY_BYTES = 80 * 1024 * 1024
"""The axis accepts envelopes up to 64 MiB by default; the evidence and framing add little."""


@dataclass(frozen=True)
class PushAttempt:
    """One request the receiver answered, for tests and logs."""

    delivery_id: str | None
    attempt: int | None
    status: int
    stored: bool

    @classmethod
    def of(cls, headers: Mapping[str, str], status: int, *, stored: bool) -> PushAttempt:
        """The record of a request with these headers, answered with `status`."""
        attempt = headers.get(ATTEMPT_HEADER, "")
        return cls(
            headers.get(DELIVERY_ID_HEADER),
            int(attempt) if attempt.isdigit() else None,
            status,
            stored,
        )


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


ATTEMPTS_KEPT = 10_000
"""The receiver remembers this many recent requests (for tests and inspection), no more."""


class PushReceiver:
    """The push endpoint as an ASGI app (`PushReceiver(...)` is itself the app).

    Repeats of a delivery already stored (the same two parts) get 200 and are not stored
    again; other parts under a stored delivery id get 409.
    """

    def __init__(
        self,
        directory: Path | str,
        secret: bytes | str,
        *,
        path: str = "/",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.max_body_bytes = max_body_bytes
        self.attempts: deque[PushAttempt] = deque(maxlen=ATTEMPTS_KEPT)
        """The most recent requests answered, in order (at most ATTEMPTS_KEPT)."""
        self._lock = anyio.Lock()
        self.app = Starlette(routes=[Route(path, self._receive, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def envelope_path(self, delivery_id: str) -> Path:
        return delivery_paths(self.directory, delivery_id)[0]

    def evidence_path(self, delivery_id: str) -> Path:
        return delivery_paths(self.directory, delivery_id)[1]

    def stored(self) -> list[str]:
        """The delivery ids stored so far (complete ones), sorted."""
        return delivered_ids(self.directory)

    def load(self, delivery_id: str) -> Delivered:
        """A stored delivery, ready for `verify_delivery`."""
        return Delivered.from_folder(self.directory, delivery_id)

    async def _receive(self, request: Request) -> Response:
        response, stored = await self._handle(request)
        self.attempts.append(PushAttempt.of(request.headers, response.status_code, stored=stored))
        return response

    async def _read(self, request: Request) -> bytes | None:
        """The body, or None once it passes `max_body_bytes` (never buffered past it)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: Request) -> tuple[Response, bool]:
        body = await self._read(request)
        if body is None:
            return _problem(413, "Too large", f"over {self.max_body_bytes} bytes"), False
        try:
            push = verify_push_request(request.headers, body, self.secret)
        except PushRefused as refused:
            return _problem(refused.status, refused.title, str(refused)), False
        async with self._lock:  # two concurrent attempts of one delivery: one stores it
            earlier = await anyio.to_thread.run_sync(self._stored_parts, push.delivery_id)
            if earlier is None:
                await anyio.to_thread.run_sync(self._store, push.delivery_id, push.parts)
        if earlier is None:
            return self._ok(push, duplicate=False), True
        if earlier != push.parts:
            detail = f"{push.delivery_id} is stored with other parts: not a repeat of it"
            return _problem(409, "Another body under a stored delivery id", detail), False
        return self._ok(push, duplicate=True), False

    def _stored_parts(self, delivery_id: str) -> PushParts | None:
        if not self.envelope_path(delivery_id).exists():
            return None
        stored = self.load(delivery_id)
        return PushParts(envelope=stored.envelope, evidence=stored.evidence)

    def _store(self, delivery_id: str, parts: PushParts) -> None:
        write_delivery(self.directory, delivery_id, parts.envelope, parts.evidence)

    @staticmethod
    def _ok(push: PushRequest, *, duplicate: bool) -> JSONResponse:
        return JSONResponse(
            {
                "delivery_id": push.delivery_id,
                "document_id": push.document_id,
                "duplicate": duplicate,
            }
        )


def app_from_environment() -> PushReceiver:
    """The receiver configured by AXIS_PUSH_DIR and AXIS_PUSH_SECRET (for uvicorn --factory)."""
    directory = os.environ.get("AXIS_PUSH_DIR")
    secret = os.environ.get("AXIS_PUSH_SECRET")
    if not directory or not secret:
        raise RuntimeError("set AXIS_PUSH_DIR and AXIS_PUSH_SECRET")
    return PushReceiver(directory, secret, path=os.environ.get("AXIS_PUSH_PATH", "/"))
