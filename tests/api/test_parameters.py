"""Every query and path parameter is checked by its model (axis/api/params.py): what an
outside probe found answered 500 `text/plain` (a datetime without a zone, the calendar's
edges, integers of 2^63 and more, bad cursors) is now a 422 problem naming the parameter,
and sane values still work."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from envelopes import document
from running_axis import RECIPIENT, SENDER, Axis, start_axis

from axis.api.params import encode_cursor
from axis.api.problems import ProblemDetails
from axis.config import Settings
from signing.xmldsig import sign_envelope

TOO_BIG = str(2**63)
LARGEST = str(2**63 - 1)


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


ZONELESS = "2020-01-01T00:00:00"
BAD_CURSORS = [
    cursor_of([ZONELESS, "x"]),  # a zone-less datetime inside a cursor
    cursor_of(["0001-01-01T00:00:00+01:00", "x"]),  # the calendar's edge inside
    cursor_of(["2020-01-01T00:00:00Z"]),  # too short
    cursor_of({"at": "2020-01-01T00:00:00Z", "id": "x"}),
    cursor_of(["2020-01-01T00:00:00Z", "x\u0000"]),
    "bm9wZQ",  # "nope", not even padded base64
    "!!!!",
    "\u00e9t\u00e9",
    base64.urlsafe_b64encode(b"\xff\xfe[").decode(),  # not UTF-8
    encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "x") * 20,  # longer than any we give
]

# (path with its query, principal, the parameter the problem names)
PROBES: list[tuple[str, str, str]] = [
    (f"/v1/documents?since={ZONELESS}", SENDER, "query.since"),
    (f"/v1/documents?until={ZONELESS}", SENDER, "query.until"),
    ("/v1/documents?since=0001-01-01T00:00:00%2B01:00", SENDER, "query.since"),
    ("/v1/documents?until=9999-12-31T23:59:59-01:00", SENDER, "query.until"),
    ("/v1/documents?since=0.5", SENDER, "query.since"),
    ("/v1/documents?since=1700000000", SENDER, "query.since"),
    (f"/v1/documents?limit={TOO_BIG}", SENDER, "query.limit"),
    *[(f"/v1/documents?cursor={c}", SENDER, "query.cursor") for c in BAD_CURSORS],
    *[(f"/v1/inbox?cursor={c}", RECIPIENT, "query.cursor") for c in BAD_CURSORS],
    (f"/v1/inbox?limit={TOO_BIG}", RECIPIENT, "query.limit"),
    (f"/v1/audit/entries?since={ZONELESS}", "auditor", "query.since"),
    ("/v1/audit/entries?until=0001-01-01T00:00:00%2B01:00", "auditor", "query.until"),
    (f"/v1/audit/entries?after={TOO_BIG}", "auditor", "query.after"),
    ("/v1/audit/entries?after=99999999999999999999999", "auditor", "query.after"),
    ("/v1/audit/entries?after=-2", "auditor", "query.after"),
    (f"/v1/audit/entries?limit={TOO_BIG}", "auditor", "query.limit"),
    ("/v1/audit/entries?agency=%00", "auditor", "query.agency"),
    (f"/v1/audit/entries?document_id={'x' * 201}", "auditor", "query.document_id"),
    (f"/v1/audit/checkpoints?after_size={TOO_BIG}", SENDER, "query.after_size"),
    (f"/v1/audit/checkpoints?limit={TOO_BIG}", SENDER, "query.limit"),
    (f"/v1/audit/tree?size={TOO_BIG}", "auditor", "query.size"),
    (f"/v1/audit/proofs/inclusion?position={TOO_BIG}", SENDER, "query.position"),
    (f"/v1/audit/proofs/inclusion?position=0&size={TOO_BIG}", SENDER, "query.size"),
    (f"/v1/audit/proofs/consistency?old_size={TOO_BIG}", "auditor", "query.old_size"),
    (f"/v1/audit/proofs/consistency?old_size=0&new_size={TOO_BIG}", "auditor", "query.new_size"),
    (f"/v1/audit/export?from={TOO_BIG}", "auditor", "query.from"),
    (f"/v1/audit/export?to={TOO_BIG}", "auditor", "query.to"),
    (f"/v1/admin/dead-letters?limit={TOO_BIG}", "operator", "query.limit"),
    ("/v1/admin/dead-letters?recipient=a%00b", "operator", "query.recipient"),
    ("/v1/documents/a%00b", SENDER, "path.document_id"),
    ("/v1/documents/a%00b/receipt", SENDER, "path.document_id"),
    ("/v1/inbox/a%0Ab", RECIPIENT, "path.delivery_id"),
    ("/v1/audit/documents/a%00b/timeline", "auditor", "path.document_id"),
    ("/v1/admin/agencies/a%00b", "operator", "path.code"),
]


@pytest.fixture
async def axis(migrated_data_dir: Path) -> AsyncIterator[Axis]:
    async for running in start_axis(Settings(data_dir=migrated_data_dir, bus_partitions=2)):
        yield running


async def test_every_probe_input_is_a_422_problem_naming_the_parameter(axis: Axis) -> None:
    failures = []
    for path, principal, element in PROBES:
        response = await axis.request("GET", path, principal)
        body = response.json() if response.status_code < 500 else response.text
        if (
            response.status_code != 422
            or response.headers["content-type"] != "application/problem+json"
            or element not in [error["element"] for error in body.get("errors", [])]
        ):
            failures.append(f"{path} as {principal}: {response.status_code} {body}")
            continue
        ProblemDetails.model_validate(body)
    assert not failures, "\n".join(failures)


async def test_a_zone_less_datetime_is_refused_not_guessed(axis: Axis) -> None:
    response = await axis.request("GET", f"/v1/audit/entries?since={ZONELESS}", "auditor")
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error == {"element": "query.since", "message": "Input should have timezone info"}


async def test_sane_values_still_work(axis: Axis) -> None:
    sent = await axis.send(
        SENDER, sign_envelope(document(SENDER, [RECIPIENT], "000.00.00.G22,1/P"), axis.key(SENDER))
    )
    assert sent.status_code == 202
    document_id = sent.json()["document_id"]

    async def listed(query: str) -> list[str]:
        response = await axis.request("GET", f"/v1/documents?{query}", SENDER)
        assert response.status_code == 200, response.text
        return [d["document_id"] for d in response.json()["documents"]]

    # The same instant in two zones, and the far edges of the range.
    assert await listed("since=2020-01-01T00:00:00Z") == [document_id]
    assert await listed("since=2020-01-01T07:00:00%2B07:00&until=9999-12-30T00:00:00Z") == [
        document_id
    ]
    assert await listed("since=9999-12-30T00:00:00Z") == []
    assert await listed("until=1970-01-01T00:00:00Z") == []

    largest = {
        f"/v1/audit/entries?after={LARGEST}": 200,
        f"/v1/audit/checkpoints?after_size={LARGEST}": 200,
        f"/v1/audit/tree?size={LARGEST}": 404,  # beyond the log: a problem, not a crash
        f"/v1/audit/proofs/inclusion?position={LARGEST}": 404,
        f"/v1/audit/proofs/consistency?old_size={LARGEST}": 422,  # sizes reversed
        f"/v1/audit/export?from={LARGEST}": 404,
    }
    for path, status in largest.items():
        response = await axis.request("GET", path, "auditor")
        assert response.status_code == status, (path, response.text)
        if status != 200:
            assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def axis_on_each_database(tmp_path: Path, migrated_database_url: str) -> AsyncIterator[Axis]:
    settings = Settings(data_dir=tmp_path, database_url=migrated_database_url, bus_partitions=2)
    async for running in start_axis(settings):
        yield running


async def test_nul_in_a_json_body_is_refused_before_the_database(
    axis_on_each_database: Axis,
) -> None:
    """PostgreSQL cannot store NUL: such a value was a 500 there."""
    axis = axis_on_each_database
    for method, path, principal, body, element in [
        ("POST", "/v1/admin/dead-letters/replay", "operator", {"recipient": "a\0"},
         "body.recipient"),
        ("POST", "/v1/admin/dead-letters/replay", "operator", {"delivery_ids": ["a\0"]},
         "body.delivery_ids.0"),
        ("POST", "/v1/inbox/x/ack", RECIPIENT, {"result": "fail", "reason": "a\0"},
         "body.reason"),
        ("PUT", "/v1/admin/agencies/000.00.00.Z99", "operator",
         {"code": "000.00.00.Z99", "name": "a\0", "level": "province"}, "body.name"),
    ]:  # fmt: skip
        response = await axis.request(method, path, principal, json=body)
        assert response.status_code == 422, (path, response.text)
        assert [e["element"] for e in response.json()["errors"]] == [element]
