"""Envelope bodies in: into a file as they arrive, never whole in memory, within a budget.

Why: a document is tens of megabytes and memory is what a flood exhausts first. A send
reserves its size in the process's `ByteBudget` (503 with `Retry-After` when it cannot within
`AXIS_INFLIGHT_WAIT_SECONDS`), then its bytes go straight into a blob store `Spool` (hashed
and bounded as they come: 413 at the first byte past the limit), raw or as the one file part
of a multipart upload (python-multipart's streaming parser; Starlette's `form()` would
spool to its own file and hand back the whole file as bytes).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from axis.pipeline.budget import BudgetExhausted, ByteBudget
from axis.problem import Problem
from axis.storage.blobs import Spool

if TYPE_CHECKING:  # a TypedDict python-multipart declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

MULTIPART_FRAMING = 64 * 1024
"""What a multipart upload may add around its file (boundaries, headers, small fields)."""
MAX_PARTS = 11
"""The file and at most ten small fields, as before."""


def _too_large(limit: int) -> Problem:
    return Problem(413, "too_large", "Envelope too large", f"the body is larger than {limit} bytes")


def _declared_size(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


def _refuse_declared_past(request: Request, limit: int) -> None:
    declared = _declared_size(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


@asynccontextmanager
async def received_body(request: Request, limit: int) -> AsyncIterator[Spool]:
    """An empty `Spool` for the body of `request`, once the budget holds room for it; the
    room is given back, and the file removed unless kept, when the block ends."""
    if _is_multipart(request):
        limit += MULTIPART_FRAMING
    declared = _declared_size(request)
    budget: ByteBudget = request.app.state.body_budget
    wait = request.app.state.settings.inflight_wait_seconds
    try:
        taken = await budget.acquire(limit if declared is None else min(limit, declared), wait)
    except BudgetExhausted as exc:
        raise Problem(
            503,
            "busy",
            "Too many documents in flight",
            f"the axis is receiving as much as it holds ({exc}); retry shortly",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        ) from None
    try:
        with request.app.state.blobs.spool() as spool:
            yield spool
    finally:
        budget.release(taken)


async def read_body(request: Request, spool: Spool, limit: int) -> None:
    """The request body into `spool`, refused as soon as it passes `limit` (or declares
    that it will)."""
    _refuse_declared_past(request, limit)
    try:
        async for chunk in request.stream():
            if spool.size + len(chunk) > limit:
                raise _too_large(limit)
            spool.write(chunk)
    finally:
        spool.close()


async def read_envelope(request: Request, spool: Spool, limit: int) -> None:
    """The edXML bytes of a raw XML body, or of the one file of a multipart upload, into
    `spool` (at most `limit` bytes of envelope)."""
    if not _is_multipart(request):
        await read_body(request, spool, limit)
        return
    _, options = parse_options_header(request.headers["content-type"])
    boundary = options.get(b"boundary")
    if not boundary:
        raise Problem(400, "bad_multipart", "Bad upload", "the multipart body has no boundary")
    _refuse_declared_past(request, limit + MULTIPART_FRAMING)
    upload = _FilePart(spool, limit)
    parser = MultipartParser(boundary, upload.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + MULTIPART_FRAMING:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    finally:
        spool.close()
    if not upload.ended:
        raise Problem(400, "bad_multipart", "Bad upload", "the multipart body is cut short")
    if not upload.found:
        raise Problem(400, "no_file", "No envelope", "the multipart upload holds no file part")


class _FilePart:
    """python-multipart callbacks that write the first part with a filename to the spool and
    count the rest (small form fields, bounded by the framing allowance)."""

    def __init__(self, spool: Spool, limit: int) -> None:
        self.spool = spool
        self.limit = limit
        self.parts = 0
        self.found = False
        self.writing = False
        self.ended = False
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Problem(400, "bad_multipart", "Bad upload", f"more than {MAX_PARTS} parts")
        self.headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field = self.value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"filename" in options:
            if self.found:
                raise Problem(400, "bad_multipart", "Bad upload", "more than one file part")
            self.found = self.writing = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writing:
            if self.spool.size + end - start > self.limit:
                raise _too_large(self.limit)
            self.spool.write(data[start:end])

    def part_end(self) -> None:
        self.writing = False

    def end(self) -> None:
        self.ended = True
