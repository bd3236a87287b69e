"""A small push endpoint an agency runs to receive deliveries from the axis.

Why it exists: an agency on push delivery needs an HTTPS endpoint that checks the axis's
HMAC, drops repeats by delivery id (the axis retries until it hears a 2xx, so the same
delivery may come several times) and keeps what it received where its DMS picks it up.
It also serves the axis's own tests: `fail_first` and `delay` make it fail or answer slowly
on purpose, to exercise retries, timeouts and dead-lettering.

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
from schemas.files import write_atomically
from schemas.push_format import (
    ATTEMPT_HEADER,
    DELIVERY_ID,
    DELIVERY_ID_HEADER,
    DOCUMENT_ID_HEADER,
    SIGNATURE_HEADER,
    PushFormatError,
    PushParts,
    parse_push_body,
    signature_matches,
)

ENVELOPE_SUFFIX = ".edxml"
EVIDENCE_SUFFIX = ".evidence.xml"
DEFAULT_MAX_BODY_BYTES = 80 * 1024 * 1024
"""The axis accepts envelopes up to 64 MiB by default; the evidence and framing add little."""


@dataclass(frozen=True)
class PushAttempt:
    """One request the receiver answered, for tests and logs."""

    delivery_id: str | None
    attempt: int | None
    status: int
    stored: bool


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

    `fail_first` answers the first N requests with `fail_status` (503) before reading
    them, with `Retry-After: <retry_after>` when given; `delay` seconds are waited before
    answering each of the first `delay_first` requests (all of them when None). Repeats of
    a delivery id already stored get 200 and are not stored again.
    """

    def __init__(
        self,
        directory: Path | str,
        secret: bytes | str,
        *,
        path: str = "/",
        fail_first: int = 0,
        fail_status: int = 503,
        retry_after: int | None = None,
        delay: float = 0.0,
        delay_first: int | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.delay = delay
        self.delay_first = delay_first
        self.max_body_bytes = max_body_bytes
        self.attempts: deque[PushAttempt] = deque(maxlen=ATTEMPTS_KEPT)
        """The most recent requests answered, in order (at most ATTEMPTS_KEPT)."""
        self.requests = 0
        self._lock = anyio.Lock()
        self.app = Starlette(routes=[Route(path, self._receive, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def envelope_path(self, delivery_id: str) -> Path:
        return self.directory / f"{delivery_id}{ENVELOPE_SUFFIX}"

    def evidence_path(self, delivery_id: str) -> Path:
        return self.directory / f"{delivery_id}{EVIDENCE_SUFFIX}"

    def stored(self) -> list[str]:
        """The delivery ids stored so far (complete ones), sorted."""
        return sorted(p.name.removesuffix(ENVELOPE_SUFFIX) for p in self.directory.glob("*.edxml"))

    def load(self, delivery_id: str) -> Delivered:
        """A stored delivery, ready for `verify_delivery`."""
        return Delivered(
            delivery_id=delivery_id,
            document_id=None,
            envelope=self.envelope_path(delivery_id).read_bytes(),
            evidence=self.evidence_path(delivery_id).read_bytes(),
        )

    async def _receive(self, request: Request) -> Response:
        self.requests += 1
        number = self.requests
        delivery_id = request.headers.get(DELIVERY_ID_HEADER)
        attempt_text = request.headers.get(ATTEMPT_HEADER, "")
        attempt = int(attempt_text) if attempt_text.isdigit() else None
        if self.delay > 0 and (self.delay_first is None or number <= self.delay_first):
            await anyio.sleep(self.delay)
        if number <= self.fail_first:
            failure = _problem(self.fail_status, "Failing on purpose", f"request {number}")
            if self.retry_after is not None:
                failure.headers["Retry-After"] = str(self.retry_after)
            return self._answer(delivery_id, attempt, failure)
        response, stored = await self._handle(request, delivery_id)
        return self._answer(delivery_id, attempt, response, stored=stored)

    def _answer(
        self,
        delivery_id: str | None,
        attempt: int | None,
        response: Response,
        *,
        stored: bool = False,
    ) -> Response:
        self.attempts.append(PushAttempt(delivery_id, attempt, response.status_code, stored))
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

    async def _handle(self, request: Request, delivery_id: str | None) -> tuple[Response, bool]:
        body = await self._read(request)
        if body is None:
            return _problem(413, "Too large", f"over {self.max_body_bytes} bytes"), False
        if not signature_matches(body, self.secret, request.headers.get(SIGNATURE_HEADER)):
            return _problem(401, "Bad signature", f"{SIGNATURE_HEADER} does not match"), False
        if delivery_id is None or not DELIVERY_ID.fullmatch(delivery_id):
            return _problem(400, "Bad delivery id", f"{DELIVERY_ID_HEADER}: {delivery_id!r}"), False
        try:
            parts = parse_push_body(request.headers.get("content-type", ""), body)
        except PushFormatError as error:
            return _problem(400, "Bad push body", str(error)), False
        async with self._lock:  # two concurrent attempts of one delivery: one stores it
            if self.envelope_path(delivery_id).exists():
                return self._ok(delivery_id, request, duplicate=True), False
            await anyio.to_thread.run_sync(self._store, delivery_id, parts)
        return self._ok(delivery_id, request, duplicate=False), True

    def _store(self, delivery_id: str, parts: PushParts) -> None:
        write_atomically(self.evidence_path(delivery_id), parts.evidence)
        write_atomically(self.envelope_path(delivery_id), parts.envelope)

    @staticmethod
    def _ok(delivery_id: str, request: Request, *, duplicate: bool) -> JSONResponse:
        return JSONResponse(
            {
                "delivery_id": delivery_id,
                "document_id": request.headers.get(DOCUMENT_ID_HEADER),
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
