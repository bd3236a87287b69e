"""The probes of `axis serve`: up, ready with the configured engines, metrics exposed."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from served_axis import served_axis

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


async def test_readyz_is_503_once_the_server_is_stopping(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.stopping.set()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "draining"}
    assert (await client.get("/healthz")).status_code == 200


def test_a_signalled_server_serves_on_not_ready_until_the_drain_ends(
    migrated_data_dir: Path,
) -> None:
    """SIGTERM: new connections are still answered, /readyz with 503 (a load balancer takes
    the process out), for AXIS_SERVE_DRAIN_SECONDS; a second signal cuts the wait short."""
    env = {"AXIS_SERVE_DRAIN_SECONDS": "60"}
    with served_axis(migrated_data_dir, env, arguments=["--only-api", "--workers", "0"]) as axis:
        with httpx.Client(base_url=axis.base_url, timeout=5) as kept_alive:
            assert kept_alive.get("/readyz").status_code == 200
            axis.process.send_signal(signal.SIGTERM)
            end = time.monotonic() + 10
            while (answer := httpx.get(f"{axis.base_url}/readyz")).status_code == 200:
                assert time.monotonic() < end, "still ready 10 s after SIGTERM"
                time.sleep(0.05)  # polling another process, with a deadline
            assert answer.status_code == 503
            assert answer.json() == {"status": "draining"}
            assert httpx.get(f"{axis.base_url}/healthz").status_code == 200
            assert kept_alive.get("/healthz").status_code == 200
            assert axis.process.poll() is None

        axis.process.send_signal(signal.SIGTERM)
        axis.process.wait(timeout=15)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{axis.base_url}/healthz")


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
