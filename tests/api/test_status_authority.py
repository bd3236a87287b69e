"""Who may send which status code: every code, sent by the document's sender and by its
recipient, through the real API on the embedded bus.

The one table is `schemas.edxml.models.STATUS_SENDERS`: 01-06, 15 and 16 come from a
recipient and go to the sender; 13 (recall) comes from the sender and goes to the
recipients. The other party's code is 403 `status_not_allowed`, naming the code and the
role the caller has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from envelopes import document, status
from running_axis import RECIPIENT, SENDER, Axis, axis_settings, start_axis

from schemas.edxml import Party, StatusCode
from schemas.edxml.models import STATUS_SENDERS
from signing.xmldsig import sign_envelope

DOCUMENT_ID = "000.00.00.G22,2026/12/03,7/UBND-VP"
CALLERS = {Party.SENDER: SENDER, Party.RECIPIENT: RECIPIENT}


@pytest.fixture
async def sent(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_database_url: str
) -> AsyncIterator[tuple[Axis, str]]:
    """The app on the embedded bus, and the id of a document from SENDER to RECIPIENT."""
    async for axis in start_axis(axis_settings(request, tmp_path, migrated_database_url)):
        body = sign_envelope(document(SENDER, [RECIPIENT], DOCUMENT_ID), axis.key(SENDER))
        response = await axis.send(SENDER, body)
        assert response.status_code == 202, response.text
        yield axis, response.json()["document_id"]


def test_the_table_covers_every_code() -> None:
    assert set(STATUS_SENDERS) == set(StatusCode)
    assert [code for code in StatusCode if code.sent_by is Party.SENDER] == [
        StatusCode.RECALL_REQUESTED
    ]


@pytest.mark.parametrize("party", list(Party))
@pytest.mark.parametrize("code", list(StatusCode))
async def test_a_status_code_only_from_the_party_that_may_send_it(
    sent: tuple[Axis, str], code: StatusCode, party: Party
) -> None:
    axis, document_id = sent
    caller = CALLERS[party]
    # A recipient names the document's sender; the sender names itself (every recipient).
    body = sign_envelope(status(caller, SENDER, DOCUMENT_ID, code.value), axis.key(caller))
    response = await axis.send(caller, body, "/v1/statuses")

    allowed = {
        Party.RECIPIENT: {"01", "02", "03", "04", "05", "06", "15", "16"},
        Party.SENDER: {"13"},
    }[party]
    if code.value in allowed:
        assert response.status_code == 202, response.text
        goes_to = [RECIPIENT] if party is Party.SENDER else [SENDER]
        assert response.json()["recipients"] == goes_to
        return
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:edoc-axis:problem:status_not_allowed"
    assert f"status {code.value}" in problem["detail"]
    assert f"is the {party.value} of" in problem["detail"]
    [error] = problem["errors"]
    assert (error["element"], error["value"], error["role"]) == ("StatusCode", code.value, party)
    view = (await axis.request("GET", f"/v1/documents/{document_id}", SENDER)).json()
    assert view["statuses"] == [], "a refused status is not recorded"
