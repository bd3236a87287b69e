"""Every endpoint x every principal x own/other agency gives the right answer.

Agencies act only as themselves and see only their own documents; anything else about a
document looks exactly like a document that does not exist (no leaks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from envelopes import document, status
from running_axis import OTHER, RECIPIENT, SENDER, Axis, start_axis

from axis.api.admission import Admission
from axis.config import Settings
from axis.rate_limit import RateLimiter
from signing.xmldsig import sign_envelope

DOCUMENT_ID = "000.00.00.G22,2026/11/22,99/MATRIX"
PRINCIPALS = [SENDER, RECIPIENT, OTHER, "operator", "auditor", None]


@pytest.fixture
async def axis(migrated_data_dir: Path) -> AsyncIterator[Axis]:
    async for running in start_axis(Settings(data_dir=migrated_data_dir, bus_partitions=2)):
        yield running


async def test_authorization_matrix(axis: Axis) -> None:
    sent = await axis.send(
        SENDER, sign_envelope(document(SENDER, [RECIPIENT], DOCUMENT_ID), axis.key(SENDER))
    )
    assert sent.status_code == 202
    document_id = sent.json()["document_id"]
    agency_record = {"code": OTHER, "name": "x", "level": "province"}

    def own_document(principal: str | None) -> bytes:
        sender = principal if principal in (SENDER, RECIPIENT, OTHER) else SENDER
        body = document(
            sender, [RECIPIENT if sender != RECIPIENT else SENDER], f"{sender},own,{principal}"
        )
        return sign_envelope(body, axis.key(sender))

    def status_about_it(principal: str | None) -> bytes:
        sender = principal if principal in (SENDER, RECIPIENT, OTHER) else RECIPIENT
        return sign_envelope(status(sender, SENDER, DOCUMENT_ID, "01"), axis.key(sender))

    # (method, path, body builder or json, {principal: status}); None is "no token".
    public = {p: 200 for p in PRINCIPALS}
    operators_only = {
        SENDER: 403,
        RECIPIENT: 403,
        OTHER: 403,
        "operator": 200,
        "auditor": 403,
        None: 401,
    }
    readers = {SENDER: 200, RECIPIENT: 200, OTHER: 404, "operator": 200, "auditor": 200, None: 401}
    signed_in = {**{p: 200 for p in PRINCIPALS}, None: 401}
    auditors = {SENDER: 403, RECIPIENT: 403, OTHER: 403, "operator": 200, "auditor": 200, None: 401}
    matrix: list[tuple[str, str, object, dict[str | None, int]]] = [
        ("GET", "/healthz", None, public),
        ("GET", "/readyz", None, public),
        ("GET", "/metrics", None, public),
        ("GET", "/openapi.json", None, public),
        ("GET", "/v1/agencies", None, {**{p: 200 for p in PRINCIPALS}, None: 401}),
        ("POST", "/v1/admin/agencies", [agency_record], operators_only),
        ("GET", f"/v1/admin/agencies/{OTHER}", None, operators_only),
        ("PUT", f"/v1/admin/agencies/{OTHER}", agency_record, operators_only),
        ("POST", f"/v1/admin/agencies/{OTHER}/certificates", {"pem": "x"},
         {**operators_only, "operator": 422}),
        ("POST", "/v1/documents", own_document,
         {SENDER: 202, RECIPIENT: 202, OTHER: 202, "operator": 403, "auditor": 403, None: 401}),
        ("POST", "/v1/statuses", status_about_it,
         {SENDER: 403, RECIPIENT: 202, OTHER: 404, "operator": 403, "auditor": 403, None: 401}),
        ("GET", f"/v1/documents/{document_id}", None, readers),
        ("GET", f"/v1/documents/{document_id}/receipt", None, readers),
        ("GET", "/v1/documents", None, {**{p: 200 for p in PRINCIPALS}, None: 401}),
        ("GET", "/v1/documents?direction=sent", None,
         {SENDER: 200, RECIPIENT: 200, OTHER: 200, "operator": 400, "auditor": 400, None: 401}),
        ("GET", "/v1/audit/entries", None, signed_in),
        ("GET", f"/v1/audit/documents/{document_id}/timeline", None, readers),
        ("GET", "/v1/audit/checkpoints", None, signed_in),
        ("GET", "/v1/audit/certificate", None, signed_in),
        ("GET", "/v1/audit/tree", None, auditors),
        ("GET", "/v1/audit/proofs/consistency?old_size=0", None, auditors),
        ("GET", "/v1/audit/proofs/inclusion?position=1000000", None,
         {**{p: 404 for p in PRINCIPALS}, None: 401}),
        ("GET", "/v1/audit/export?from=1000000", None,
         {**auditors, "operator": 404, "auditor": 404}),
    ]  # fmt: skip
    failures = []
    for method, path, body, row in matrix:
        for principal in PRINCIPALS:
            if callable(body):
                response = await axis.request(
                    method, path, principal, content=body(principal),
                    headers={"Content-Type": "application/xml"},
                )  # fmt: skip
            else:
                response = await axis.request(method, path, principal, json=body)
            if response.status_code != row[principal]:
                failures.append(
                    f"{method} {path} as {principal}: {response.status_code}, not {row[principal]}"
                )
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", path
    assert failures == []

    # What another agency sees of a document is exactly what it sees of none at all.
    theirs = await axis.request("GET", f"/v1/documents/{document_id}", OTHER)
    nothing = await axis.request("GET", "/v1/documents/00000000-0000-0000-0000-000000000000", OTHER)
    assert theirs.json()["title"] == nothing.json()["title"]
    listing = await axis.request("GET", "/v1/documents", OTHER)
    assert document_id not in listing.text


async def test_an_agency_over_its_rate_gets_429_with_retry_after(axis: Axis) -> None:
    axis.app.state.admission = Admission(RateLimiter(rate=0.01, burst=2), 4, max_wait=0)
    bodies = [
        sign_envelope(document(SENDER, [RECIPIENT], f"rate,{n}"), axis.key(SENDER))
        for n in range(3)
    ]
    answers = [await axis.send(SENDER, body) for body in bodies]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].json()["type"] == "urn:edoc-axis:problem:rate_limited"
    # Another agency is not held back by the first one's burst.
    other = sign_envelope(document(OTHER, [RECIPIENT], "rate,other"), axis.key(OTHER))
    assert (await axis.send(OTHER, other)).status_code == 202
