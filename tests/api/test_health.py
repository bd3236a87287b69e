"""The probes of `axis serve`: up, ready with the configured engines, metrics exposed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from axis.app import create_app
from axis.config import Settings
from axis.storage.database import create_engine


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://axis") as c,
    ):
        yield c


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_embedded_defaults(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "bus": {"engine": "embedded", "ready": True},
        "database": {"engine": "sqlite", "ready": True},
    }


async def test_readyz_is_503_when_the_database_does_not_answer(
    client: httpx.AsyncClient,
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.database = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/nothing")
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["bus"]["ready"] is True
    assert body["database"]["ready"] is False
    assert body["database"]["error"]


async def test_metrics_in_prometheus_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "python_info" in response.text


async def test_an_unknown_path_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:edoc-axis:problem:not_found",
        "title": "Not found",
        "status": 404,
        "detail": "Not Found",
    }
    assert (await client.get("/healthz")).status_code == 200
