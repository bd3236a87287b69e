"""Delivery end to end on each bus and database: the router and the delivery worker run in
the app, the recipient pulls, downloads, verifies and acknowledges; file drop; statuses
routed back to the sender."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from envelopes import document, status
from running_axis import OTHER, RECIPIENT, SENDER, Axis

from axis.bus.topics import EVENTS
from signing.evidence import EvidenceKind, verify_evidence
from signing.xmldsig import sign_envelope

DEADLINE = 60.0


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first truthy result of `check`, polled until the deadline."""
    end = time.monotonic() + DEADLINE
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < end, f"never happened: {what}"
        await asyncio.sleep(0.05)


async def inbox(axis: Axis, agency: str, query: str = "") -> list[dict[str, Any]]:
    response = await axis.request("GET", f"/v1/inbox{query}", agency)
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


async def test_pull_download_verify_acknowledge(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [RECIPIENT], "pull,1"), axis.key(SENDER))
    document_id = (await axis.send(SENDER, body)).json()["document_id"]

    [entry] = await eventually(lambda: inbox(axis, RECIPIENT), "the delivery in the inbox")
    assert (entry["type"], entry["document_id"], entry["sender"]) == ("edoc", document_id, SENDER)
    assert entry["state"] == "delivered"
    assert entry["overdue"] is False
    delivery_id = entry["delivery_id"]

    downloaded = await axis.request("GET", f"/v1/inbox/{delivery_id}", RECIPIENT)
    assert downloaded.content == body, "the recipient gets the sender's very bytes"
    assert downloaded.headers["x-axis-delivery-id"] == delivery_id
    evidence = await axis.request("GET", f"/v1/inbox/{delivery_id}/evidence", RECIPIENT)
    record = verify_evidence(
        evidence.content, axis.app.state.ingest.identity.certificate, original=body
    )
    assert record.kind is EvidenceKind.TRANSIT
    assert record.recipients == (RECIPIENT,)
    assert (await axis.request("GET", f"/v1/inbox/{delivery_id}", OTHER)).status_code == 404
    assert await inbox(axis, OTHER) == []

    ack = await axis.request(
        "POST", f"/v1/inbox/{delivery_id}/ack", RECIPIENT, json={"result": "done"}
    )
    assert ack.json() == {"delivery_id": delivery_id, "state": "acked_done"}
    again = await axis.request(
        "POST", f"/v1/inbox/{delivery_id}/ack", RECIPIENT, json={"result": "done"}
    )
    assert again.status_code == 200
    conflicting = await axis.request(
        "POST", f"/v1/inbox/{delivery_id}/ack", RECIPIENT, json={"result": "fail"}
    )
    assert conflicting.status_code == 409

    view = (await axis.request("GET", f"/v1/documents/{document_id}", SENDER)).json()
    assert view["recipients"] == [
        {"agency_code": RECIPIENT, "delivery_id": delivery_id, "state": "acked_done"}
    ]

    async def delivered_events() -> list[dict[str, Any]]:
        async with axis.app.state.bus.consumer(f"check-{time.monotonic_ns()}", [EVENTS]) as c:
            events = []
            while batch := await c.getmany(max_wait=1.0):
                events += [json.loads(r.value) for r in batch]
        return [e for e in events if e["type"] == "delivery.delivered"]

    [delivered] = await delivered_events()
    assert delivered["data"]["delivery_id"] == delivery_id


async def test_file_drop(axis: Axis, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    record = {
        "code": RECIPIENT,
        "name": "r",
        "level": "province",
        "delivery": {"kind": "file_drop", "directory": str(folder)},
    }
    put = await axis.request("PUT", f"/v1/admin/agencies/{RECIPIENT}", "operator", json=record)
    assert put.status_code == 200
    body = sign_envelope(document(SENDER, [RECIPIENT, OTHER], "drop,1"), axis.key(SENDER))
    assert (await axis.send(SENDER, body)).status_code == 202

    [dropped] = await eventually(
        lambda: asyncio.to_thread(lambda: sorted(folder.glob("*.edxml"))), "the dropped file"
    )
    assert dropped.read_bytes() == body
    evidence = dropped.with_name(dropped.name.replace(".edxml", ".evidence.xml"))
    verify_evidence(
        evidence.read_bytes(), axis.app.state.ingest.identity.certificate, original=body
    )
    assert not list(folder.glob(".incoming-*"))
    # The other recipient pulls as usual.
    await eventually(lambda: inbox(axis, OTHER), "the other recipient's delivery")


async def test_statuses_go_back_to_the_sender(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [RECIPIENT], "status,1"), axis.key(SENDER))
    document_id = (await axis.send(SENDER, body)).json()["document_id"]
    answer = sign_envelope(status(RECIPIENT, SENDER, "status,1", "03"), axis.key(RECIPIENT))
    sent = await axis.send(RECIPIENT, answer, "/v1/statuses")
    assert sent.status_code == 202, sent.text

    [entry] = await eventually(lambda: inbox(axis, SENDER, "?type=status"), "the status")
    assert (entry["type"], entry["document_id"], entry["sender"]) == (
        "status",
        document_id,
        RECIPIENT,
    )
    downloaded = await axis.request("GET", f"/v1/inbox/{entry['delivery_id']}", SENDER)
    assert downloaded.content == answer
    assert await inbox(axis, SENDER, "?type=edoc") == []
