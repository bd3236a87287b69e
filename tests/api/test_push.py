"""Push delivery against a real HTTP endpoint (the agency-side receiver, over loopback):
delivered, retried after failures, dead past the policy and replayed, and a slow endpoint
holding up nobody else."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from envelopes import document
from push_endpoint import FaultyReceiver, free_port, serving
from running_axis import OTHER, RECIPIENT, SENDER, Axis
from test_delivery import eventually, inbox

from adapters.receiver import PushReceiver
from signing.evidence import verify_evidence
from signing.xmldsig import sign_envelope

SECRET = "a-secret-shared-with-the-agency"


async def push_to(axis: Axis, url: str, **retry: int) -> None:
    record = {
        "code": RECIPIENT,
        "name": "r",
        "level": "province",
        "delivery": {
            "kind": "push",
            "url": url,
            "secret": SECRET,
            "timeout_seconds": 5,
            "retry": {"max_attempts": 12, "max_age_seconds": 3600, **retry},
        },
    }
    put = await axis.request("PUT", f"/v1/admin/agencies/{RECIPIENT}", "operator", json=record)
    assert put.status_code == 200, put.text


async def send(axis: Axis, document_id: str, recipients: list[str]) -> tuple[str, bytes]:
    body = sign_envelope(document(SENDER, recipients, document_id), axis.key(SENDER))
    response = await axis.send(SENDER, body)
    assert response.status_code == 202, response.text
    return response.json()["document_id"], body


async def recipient_state(axis: Axis, document_id: str) -> dict[str, Any]:
    view = (await axis.request("GET", f"/v1/documents/{document_id}", SENDER)).json()
    return {r["agency_code"]: r for r in view["recipients"]}[RECIPIENT]


async def test_push_then_retries_after_two_failures(axis: Axis, tmp_path: Path) -> None:
    receiver = FaultyReceiver(tmp_path / "received", SECRET, fail_first=2)
    async with serving(receiver) as url:
        await push_to(axis, url)
        document_id, body = await send(axis, "push,1", [RECIPIENT])
        [delivery_id] = await eventually(
            lambda: asyncio.to_thread(receiver.stored), "the pushed document"
        )
    assert receiver.envelope_path(delivery_id).read_bytes() == body
    verify_evidence(
        receiver.evidence_path(delivery_id).read_bytes(),
        axis.app.state.ingest.identity.certificate,
        original=body,
    )
    assert [a.status for a in receiver.attempts] == [503, 503, 200]
    assert {a.delivery_id for a in receiver.attempts} == {delivery_id}
    assert [a.attempt for a in receiver.attempts] == [1, 2, 3]
    state = await eventually(lambda: _delivered(axis, document_id), "the delivery marked delivered")
    assert state["delivery_id"] == delivery_id


async def _delivered(axis: Axis, document_id: str) -> dict[str, Any] | None:
    state = await recipient_state(axis, document_id)
    return state if state["state"] == "delivered" else None


async def test_down_past_the_policy_is_dead_then_replayed(axis: Axis, tmp_path: Path) -> None:
    port = free_port()
    await push_to(axis, f"http://127.0.0.1:{port}/", max_attempts=2)
    document_id, body = await send(axis, "push,dead", [RECIPIENT])

    async def dead_letters() -> list[dict[str, Any]]:
        response = await axis.request("GET", "/v1/admin/dead-letters", "operator")
        return list(response.json())

    [dead] = await eventually(dead_letters, "the dead letter")
    assert (dead["document_id"], dead["recipient"], dead["attempts"]) == (
        document_id,
        RECIPIENT,
        2,
    )
    assert (await recipient_state(axis, document_id))["state"] == "dead"
    forbidden = await axis.request("GET", "/v1/admin/dead-letters", "auditor")
    assert forbidden.status_code == 403

    receiver = PushReceiver(tmp_path / "received", SECRET)
    async with serving(receiver, port):
        replayed = await axis.request(
            "POST", "/v1/admin/dead-letters/replay", "operator", json={"recipient": RECIPIENT}
        )
        assert replayed.json() == {"replayed": [dead["delivery_id"]]}
        await eventually(lambda: asyncio.to_thread(receiver.stored), "the replayed push")
    assert receiver.envelope_path(dead["delivery_id"]).read_bytes() == body
    assert await dead_letters() == []
    again = await axis.request(
        "POST",
        "/v1/admin/dead-letters/replay",
        "operator",
        json={"delivery_ids": [dead["delivery_id"]]},
    )
    assert again.status_code == 404


async def test_a_slow_endpoint_holds_up_nobody(axis: Axis, tmp_path: Path) -> None:
    receiver = FaultyReceiver(tmp_path / "received", SECRET, delay=3.0)
    async with serving(receiver) as url:
        await push_to(axis, url)
        await send(axis, "slow,1", [RECIPIENT, OTHER])
        await eventually(lambda: inbox(axis, OTHER), "the other recipient's delivery")
        assert receiver.stored() == [], "the other delivery waited for the slow endpoint"
        await eventually(lambda: asyncio.to_thread(receiver.stored), "the slow push")
