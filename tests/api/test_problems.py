"""An exception nobody expected is still a problem document (500), never `text/plain`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

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
