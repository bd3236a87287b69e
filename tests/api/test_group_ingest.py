"""Ingest's group commit, seen through the real bus and database: messages ready while a
batch commits share the next transaction and publish; a duplicate fails only itself; a
registry change here is seen by the next message at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from envelopes import document
from running_axis import OTHER, SENDER, Axis, axis_settings, start_axis
from sqlalchemy import event, func, select
from test_sending import signed_document

from axis.bus import Bus, Message
from axis.pipeline.ingest import Ingest
from axis.storage.models import Document
from signing.xmldsig import sign_envelope


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def axis(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Axis]:
    """The real app, taking several requests of one agency at once."""
    settings = axis_settings(request, tmp_path, database_url)
    async for running in start_axis(settings.model_copy(update={"agency_max_in_flight": 8})):
        yield running


class GatedBus:
    """The real bus, whose publishes wait until the test opens the gate; each publish's
    messages are kept."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.opened = asyncio.Event()
        self.publishes: list[list[Message]] = []

    async def publish_many(self, messages: Sequence[Message]) -> None:
        self.publishes.append(list(messages))
        await self.opened.wait()
        await self.bus.publish_many(messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)


def gated(axis: Axis) -> tuple[Ingest, GatedBus]:
    ingest: Ingest = axis.app.state.ingest
    gate = GatedBus(ingest.bus)
    ingest.bus = cast(Bus, gate)
    return ingest, gate


def document_transactions(axis: Axis) -> list[int]:
    """Grows by one for each committed transaction that inserted documents."""
    committed: list[int] = []
    engine = axis.app.state.database.sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def inserting(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DOCUMENTS "):
            connection.info["inserted_documents"] = True

    @event.listens_for(engine, "commit")
    def commit(connection: Any) -> None:
        if connection.info.pop("inserted_documents", False):
            committed.append(1)

    return committed


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


async def send(axis: Axis, document_id: str) -> httpx.Response:
    return await axis.send(SENDER, signed_document(axis, document_id))


async def stored_documents(axis: Axis) -> int:
    async with axis.app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Document)) or 0)


async def test_sends_ready_during_a_commit_share_one_transaction_and_one_publish(
    axis: Axis,
) -> None:
    ingest, gate = gated(axis)
    transactions = document_transactions(axis)
    first = asyncio.create_task(send(axis, "A/1"))
    await until(lambda: len(gate.publishes) == 1, "the first document published")
    rest = [asyncio.create_task(send(axis, document_id)) for document_id in ("B/1", "C/1")]
    await until(lambda: ingest.commits.waiting == 2, "two documents waiting")
    gate.opened.set()
    responses = [await first, *await asyncio.gather(*rest)]
    assert [response.status_code for response in responses] == [202, 202, 202]
    # An `accepted` record and three audit events per document.
    assert [len(messages) for messages in gate.publishes] == [4, 8]
    assert len(transactions) == 2
    assert await stored_documents(axis) == 3


async def test_a_duplicate_in_a_batch_fails_only_itself(axis: Axis) -> None:
    ingest, gate = gated(axis)
    first = asyncio.create_task(send(axis, "A/2"))
    await until(lambda: len(gate.publishes) == 1, "the first document published")
    body = signed_document(axis, "B/2")
    rest = [
        asyncio.create_task(axis.send(SENDER, body)),
        asyncio.create_task(axis.send(SENDER, body)),
        asyncio.create_task(send(axis, "C/2")),
    ]
    await until(lambda: ingest.commits.waiting == 3, "three documents waiting")
    gate.opened.set()
    assert (await first).status_code == 202
    same, again, other = await asyncio.gather(*rest)
    assert sorted([same.status_code, again.status_code]) == [200, 202]  # one is the repeat
    assert same.json()["document_id"] == again.json()["document_id"]
    assert other.status_code == 202, other.text
    assert await stored_documents(axis) == 3


async def test_a_registry_change_here_is_seen_by_the_next_send(axis: Axis) -> None:
    assert (await send(axis, "A/3")).status_code == 202  # the sender is remembered now
    record = {"code": SENDER, "name": f"Agency {SENDER}", "level": "province"}
    suspended = await axis.request(
        "PUT", f"/v1/admin/agencies/{SENDER}", "operator", json={**record, "status": "suspended"}
    )
    assert suspended.status_code == 200, suspended.text
    refused = await send(axis, "B/3")
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:edoc-axis:problem:agency_suspended"
    active = await axis.request("PUT", f"/v1/admin/agencies/{SENDER}", "operator", json=record)
    assert active.status_code == 200, active.text
    assert (await send(axis, "B/3")).status_code == 202


async def test_a_recipient_suspended_here_is_refused_at_once(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [OTHER], "A/4"), axis.key(SENDER))
    assert (await axis.send(SENDER, body)).status_code == 202
    record = {"code": OTHER, "name": f"Agency {OTHER}", "level": "province", "status": "suspended"}
    put = await axis.request("PUT", f"/v1/admin/agencies/{OTHER}", "operator", json=record)
    assert put.status_code == 200, put.text
    again = sign_envelope(document(SENDER, [OTHER], "B/4"), axis.key(SENDER))
    refused = await axis.send(SENDER, again)
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:edoc-axis:problem:unknown_recipient"
