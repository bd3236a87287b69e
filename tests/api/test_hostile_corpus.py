"""Every file of the hostile corpus, sent to the real API, gets its documented 4xx problem
body, and the service keeps serving. The controls are accepted, so this test can fail."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from running_axis import registry_rules
from sqlalchemy import delete

from axis.app import create_app
from axis.bus.topics import EVENTS
from axis.config import Settings
from axis.credentials import create_token
from axis.registry import AgencyRecord, save_agencies
from axis.storage.models import AgencyCertificate, AgencyLevel, Document, Role
from signing.certificates import RegisteredCertificate
from signing.keys import certificate_pem, load_certificate

HOSTILE = Path(__file__).parents[1] / "hostile"
CORPUS = HOSTILE / "corpus"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
SENDER = "000.00.00.G22"
ORGAN_ID = re.compile(rb"OrganId>\s*(\d{2,3}\.\d{2}\.\d{2}(?:\.[A-Z]\d{2})?)\s*<")


def expected_problem(case: dict[str, Any]) -> tuple[set[int], str]:
    if case["stage"] == "parse":
        status = {413} if case["code"] == "too_large" else {400, 422}
        return status, case["code"]
    return {422}, f"signature_{case['code']}"


@pytest.fixture
async def axis(tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient, str]]:
    settings = Settings(
        data_dir=tmp_path, trust_roots_file=HOSTILE / "keys" / "ca.cert.pem", bus_partitions=1
    )
    app = create_app(settings)
    codes = {SENDER} | {
        match.decode() for path in CORPUS.iterdir() for match in ORGAN_ID.findall(path.read_bytes())
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://axis") as c,
    ):
        async with app.state.sessions.begin() as session:
            await save_agencies(
                session,
                [AgencyRecord(code=code, name=code, level=AgencyLevel.CENTRAL) for code in codes],
                registry_rules(app),
            )
            _, token = await create_token(session, Role.AGENCY, SENDER)
        yield app, c, token


async def register_only(app: Any, names: list[str]) -> None:
    """Exactly these certificates registered for the sender (straight into the table: the
    registry would refuse some of them, which is a defence of its own)."""
    async with app.state.sessions.begin() as session:
        await session.execute(delete(AgencyCertificate))
        await session.execute(delete(Document))
        for name in names:
            certificate = load_certificate(HOSTILE / "keys" / f"{name}.cert.pem")
            registered = RegisteredCertificate.of(certificate)
            session.add(
                AgencyCertificate(
                    fingerprint_sha256=registered.fingerprint,
                    agency_code=SENDER,
                    pem=certificate_pem(certificate).decode(),
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                )
            )


async def test_every_corpus_file_gets_its_problem(
    axis: tuple[Any, httpx.AsyncClient, str],
) -> None:
    app, client, token = axis
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    wrong = []
    for case in MANIFEST["cases"]:
        await register_only(app, case.get("registered") or ["agency-ec"])
        body = (CORPUS / case["file"]).read_bytes()
        response = await client.post("/v1/documents", content=body, headers=headers)
        if case["stage"] == "accept":
            if response.status_code != 202:
                wrong.append(f"{case['file']}: {response.status_code} {response.text[:200]}")
            continue
        statuses, code = expected_problem(case)
        problem = response.json()
        if (
            response.status_code not in statuses
            or response.headers["content-type"] != "application/problem+json"
            or problem["type"] != f"urn:edoc-axis:problem:{code}"
            or not problem["detail"]
        ):
            wrong.append(f"{case['file']}: {response.status_code} {problem.get('type')}")
        assert (await client.get("/healthz")).status_code == 200
    assert wrong == []


async def test_a_200_mb_body_is_refused_unread(axis: tuple[Any, httpx.AsyncClient, str]) -> None:
    app, client, token = axis
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b" " * (1 << 20)
        for _ in range(200):
            sent += len(chunk)
            yield chunk

    response = await client.post(
        "/v1/documents",
        content=body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:edoc-axis:problem:too_large"
    assert sent <= app.state.ingest.limits.max_body_bytes + (2 << 20), "read past the limit"
    async with app.state.bus.consumer("audit-check", [EVENTS]) as consumer:
        events = [json.loads(r.value) for r in await consumer.getmany(max_wait=2)]
    [refusal] = [e for e in events if e["type"] == "document.rejected"]
    assert refusal["data"]["code"] == "too_large"
