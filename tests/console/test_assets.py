"""The console's static files and `/docs` work on a closed network: nothing from a CDN."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from axis.app import create_app
from axis.config import Settings
from axis.console.assets import STATIC_DIR, asset_url

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
URLS = re.compile(r"""https?://[^\s"'<>)]+""")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path, bus_partitions=1), workers=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://axis") as c,
    ):
        yield c


async def test_docs_reference_no_external_host(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert "swagger-ui-bundle.js" in html
    assert URLS.findall(html) == []
    assert not EXTERNAL.search(html)
    for path in re.findall(r"""/ui/static/[^"'\s]+""", html):
        asset = await client.get(path)
        assert asset.status_code == 200, path
        assert asset.content


async def test_redoc_from_a_cdn_is_not_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404


async def test_vendored_files_are_served_with_a_long_cache(client: httpx.AsyncClient) -> None:
    versions = (STATIC_DIR / "vendor" / "VERSIONS").read_text()
    assert re.search(r"^htmx\.org 2\.", versions, re.MULTILINE)  # htmx-ext-sse 2.2 needs htmx 2
    for name in ("vendor/htmx.min.js", "vendor/htmx-ext-sse.min.js", "vendor/uPlot.iife.min.js"):
        response = await client.get(asset_url(name))
        assert response.status_code == 200
        assert "max-age=31536000" in response.headers["cache-control"]
        assert response.content == (STATIC_DIR / name).read_bytes()
