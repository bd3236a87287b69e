"""An exception nobody expected is still a problem document (500), never `text/plain`."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message

from axis.api.problems import install_problem_handlers


async def test_an_unexpected_exception_is_a_500_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/broken")
    async def broken() -> None:
        raise OverflowError("date value out of range")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://axis") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:edoc-axis:problem:internal_error",
        "title": "Internal error",
        "status": 500,
        "detail": "the axis failed; it has been logged",
    }


async def test_a_client_gone_mid_body_is_no_failure_of_the_axis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that closes its connection half-way through its body is logged by nobody
    as "Exception in ASGI application"."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> None:
        async for _ in request.stream():
            pass

    arriving: list[Message] = [
        {"type": "http.request", "body": b"<half", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return arriving.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/upload", "raw_path": b"/upload", "query_string": b"",
        "headers": [(b"content-length", b"100")], "server": ("axis", 80), "client": None,
        "root_path": "",
    }  # fmt: skip
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
