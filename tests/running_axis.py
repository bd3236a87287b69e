"""A running axis for API tests: the real app on a chosen bus and database, with agencies,
their development keys and certificates, and one token per principal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from axis.app import create_app
from axis.config import Settings
from axis.credentials import create_token
from axis.registry import (
    AgencyRecord,
    CertificateRecord,
    RegistryRules,
    add_certificate,
    save_agencies,
)
from axis.storage.models import AgencyLevel, Role
from signing.devkeys import DevKeySet, load_or_create_dev_keys
from signing.keys import CertifiedKey, certificate_pem

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H26"
OTHER = "000.00.00.H41"
RETRY_DELAYS = (0.2, 0.3, 0.4, 0.5)


@dataclass
class Axis:
    """The app, an HTTP client to it, the dev key set, and a token per principal."""

    app: FastAPI
    client: httpx.AsyncClient
    keys: DevKeySet
    tokens: dict[str, str] = field(default_factory=dict)

    def key(self, agency: str) -> CertifiedKey:
        return self.keys.agencies[agency]

    async def request(
        self,
        method: str,
        path: str,
        as_: str | None,
        *,
        json: object = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`method path` with the token of `as_` (a role or an agency code; None: no token)."""
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers["Authorization"] = f"Bearer {self.tokens[as_]}"
        return await self.client.request(
            method, path, json=json, content=content, headers=all_headers
        )

    async def send(self, agency: str, body: bytes, path: str = "/v1/documents") -> httpx.Response:
        return await self.request(
            "POST", path, agency, content=body, headers={"Content-Type": "application/xml"}
        )


def axis_settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Settings for the bus engine named by the test's `bus_engine` parameter. Pushes may go
    to 127.0.0.1 over plain http (test endpoints), drop folders anywhere under `tmp_path`."""
    engine = request.param if hasattr(request, "param") else "embedded"
    if engine == "kafka":
        return Settings(
            data_dir=tmp_path,
            push_allow_insecure_hosts=["127.0.0.1"],
            file_drop_root=tmp_path,
            database_url=database_url,
            bus="kafka",
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            topic_namespace=f"test-{uuid.uuid4().hex[:12]}",
            bus_partitions=2,
            retry_delays_seconds=RETRY_DELAYS,
            checkpoint_every_entries=5,
        )
    return Settings(
        data_dir=tmp_path,
        push_allow_insecure_hosts=["127.0.0.1"],
        file_drop_root=tmp_path,
        database_url=database_url,
        bus_partitions=2,
        retry_delays_seconds=RETRY_DELAYS,
        checkpoint_every_entries=5,
    )


def registry_rules(app: FastAPI) -> RegistryRules:
    """The registry's checks as the running `app` applies them."""
    return RegistryRules.of(app.state.settings, app.state.ingest.identity)


async def start_axis(settings: Settings) -> AsyncIterator[Axis]:
    """The app serving, three agencies registered with certificates, tokens for all."""
    keys = load_or_create_dev_keys(settings.dev_key_dir, [SENDER, RECIPIENT, OTHER])
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://axis") as c,
    ):
        axis = Axis(app, c, keys)
        async with app.state.sessions.begin() as session:
            rules = registry_rules(app)
            await save_agencies(
                session,
                [
                    AgencyRecord(code=code, name=f"Agency {code}", level=AgencyLevel.PROVINCE)
                    for code in (SENDER, RECIPIENT, OTHER)
                ],
                rules,
            )
            for code in (SENDER, RECIPIENT, OTHER):
                pem = certificate_pem(keys.agencies[code].certificate).decode()
                await add_certificate(session, code, CertificateRecord(pem=pem), rules)
                _, axis.tokens[code] = await create_token(session, Role.AGENCY, code)
            _, axis.tokens["operator"] = await create_token(session, Role.OPERATOR)
            _, axis.tokens["auditor"] = await create_token(session, Role.AUDITOR)
        yield axis
