"""The lifecycle's guards, on each bus and database: every transition moves a delivery only
from the states it may come from, and publishes the events of the changes it made (and of
every attempt made) and nothing else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from axis.bus.topics import DELIVERIES, EVENTS, RETRY_TIERS
from axis.delivery.lifecycle import AlreadyAcknowledged, Attempt, NotDead, Step
from axis.storage.models import (
    Agency,
    AgencyLevel,
    Delivery,
    DeliveryState,
    Document,
    utcnow,
)
from axis.workers.context import WorkerContext

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H26"
DEADLINE = 30.0


async def queued(context: WorkerContext, name: str = "d1") -> Delivery:
    """One delivery of a new document, queued; returns the row as a worker reads it."""
    async with context.sessions.begin() as session:
        for code in (SENDER, RECIPIENT):
            if await session.get(Agency, code) is None:
                session.add(Agency(code=code, name=code, level=AgencyLevel.PROVINCE))
        await session.flush()
        if await session.get(Document, f"doc-{name}") is None:
            session.add(
                Document(
                    id=f"doc-{name}",
                    sender_code=SENDER,
                    edxml_document_id=name,
                    content_sha256="a" * 64,
                    size_bytes=1,
                    certificate_fingerprint="b" * 64,
                    receipt_sha256="c" * 64,
                    transit_sha256="d" * 64,
                )
            )
    delivery = Delivery(
        id=f"delivery-{name}",
        kind="edoc",
        document_id=f"doc-{name}",
        sender_code=SENDER,
        recipient_code=RECIPIENT,
        content_sha256="a" * 64,
        transit_sha256="d" * 64,
    )
    await context.lifecycle.queue([delivery])
    return await row(context, delivery.id)


async def row(context: WorkerContext, delivery_id: str) -> Delivery:
    async with context.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    return delivery


async def records(
    context: WorkerContext, topics: Sequence[str], at_least: int
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, JSON value) of every record of `topics`, once there are `at_least`."""
    found: list[tuple[str, dict[str, Any]]] = []
    end = time.monotonic() + DEADLINE
    async with context.bus.consumer(f"check-{time.monotonic_ns()}", topics) as consumer:
        while True:
            batch = await consumer.getmany(max_wait=0.5)
            found += [(record.topic, json.loads(record.value)) for record in batch]
            if not batch and len(found) >= at_least:
                return found
            assert time.monotonic() < end, f"only {len(found)} records: {found}"


def types(found: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [value["type"] for topic, value in found if topic == EVENTS]


async def test_queue_inserts_once_and_requests_each_time(context: WorkerContext) -> None:
    delivery = await queued(context)
    assert (delivery.state, delivery.attempts, delivery.replays) == (DeliveryState.QUEUED, 0, 0)
    await queued(context)  # a replayed router: nothing is recreated, the request is repeated
    found = await records(context, [DELIVERIES, EVENTS], 4)
    assert [topic for topic, _ in found].count(DELIVERIES) == 2
    assert types(found) == ["delivery.queued", "delivery.queued"]
    assert len({value["id"] for topic, value in found if topic == EVENTS}) == 1
    assert (await row(context, delivery.id)).queued_at == delivery.queued_at


async def test_no_retrying_after_delivered(context: WorkerContext) -> None:
    """Two attempts of one delivery race: the one that delivered wins, and the late one's
    retry or death changes nothing and says nothing but that it was attempted."""
    read = await queued(context)
    lifecycle = context.lifecycle
    assert await lifecycle.delivered(read, Attempt(1, 0.1), adapter="push", submitted_at=utcnow())
    assert not await lifecycle.retry(read, Attempt(1, 0.2, "503"), delay=0.1)
    assert not await lifecycle.dead(read, Attempt(1, 0.2, "410"))
    delivered = await row(context, read.id)
    assert (delivered.state, delivered.attempts, delivered.last_error) == (
        DeliveryState.DELIVERED,
        1,
        None,
    )
    found = await records(context, [DELIVERIES, EVENTS, *RETRY_TIERS], 5)
    assert types(found) == [
        "delivery.queued",
        "delivery.attempted",
        "delivery.delivered",
        "delivery.attempted",
        "delivery.attempted",
    ]
    assert not [topic for topic, _ in found if topic in RETRY_TIERS]


async def test_two_racing_attempts_schedule_one_retry(context: WorkerContext) -> None:
    first, second = await queued(context), await queued(context)  # the same row, read twice
    lifecycle = context.lifecycle
    assert await lifecycle.retry(first, Attempt(1, 0.1, "503"), delay=0.1)
    assert not await lifecycle.retry(second, Attempt(1, 0.1, "503"), delay=0.1)
    assert not await lifecycle.dead(second, Attempt(1, 0.1, "503"))
    retrying = await row(context, first.id)
    assert (retrying.state, retrying.attempts) == (DeliveryState.RETRYING, 1)
    found = await records(context, [EVENTS, *RETRY_TIERS], 5)
    assert [topic for topic, _ in found if topic in RETRY_TIERS] == [RETRY_TIERS[0]]
    assert types(found).count("delivery.retrying") == 1


async def test_replay_is_from_dead_only_and_restarts_the_round(context: WorkerContext) -> None:
    read = await queued(context)
    lifecycle = context.lifecycle
    with pytest.raises(NotDead):
        await lifecycle.replay(actor="operator:t", delivery_ids=[read.id])
    assert await lifecycle.dead(read, Attempt(1, 0.1, "gone"))
    assert await lifecycle.replay(actor="operator:t", delivery_ids=[read.id]) == [read.id]
    replayed = await row(context, read.id)
    assert (replayed.state, replayed.attempts, replayed.last_error, replayed.replays) == (
        DeliveryState.QUEUED,
        0,
        None,
        1,
    )
    assert replayed.queued_at > read.queued_at, "the age clock starts again"
    assert await lifecycle.replay(actor="operator:t", recipient=RECIPIENT) == []
    # The new round's first attempt is a new audit entry, not a repeat of the first round's.
    assert await lifecycle.delivered(
        replayed, Attempt(1, 0.1), adapter="pull", submitted_at=utcnow()
    )
    found = await records(context, [EVENTS], 6)
    attempted = [v["id"] for _, v in found if v["type"] == "delivery.attempted"]
    assert len(set(attempted)) == 2
    assert types(found)[-3:] == ["delivery.replayed", "delivery.attempted", "delivery.delivered"]


async def test_acknowledge_only_what_was_delivered(context: WorkerContext) -> None:
    read = await queued(context)
    lifecycle = context.lifecycle
    ack = {"reason": "", "actor": f"agency:{RECIPIENT}"}
    with pytest.raises(AlreadyAcknowledged):
        await lifecycle.acknowledge(read, result="done", **ack)
    assert await lifecycle.delivered(read, Attempt(1, 0.0), adapter="pull", submitted_at=utcnow())
    assert await lifecycle.acknowledge(read, result="done", **ack) is DeliveryState.ACKED_DONE
    assert await lifecycle.acknowledge(read, result="done", **ack) is DeliveryState.ACKED_DONE
    with pytest.raises(AlreadyAcknowledged) as refused:
        await lifecycle.acknowledge(read, result="fail", **ack)
    assert refused.value.state is DeliveryState.ACKED_DONE
    assert not await lifecycle.retry(read, Attempt(2, 0.1, "503"), delay=0.1)
    found = await records(context, [EVENTS], 5)
    assert types(found).count("delivery.acked") == 1
    acked = await row(context, read.id)
    assert acked.acked_at is not None and acked.acked_at > utcnow() - timedelta(minutes=5)


async def test_reads_asked_together_are_answered_each(context: WorkerContext) -> None:
    """The worker's reads share a query; each gets its own row, with the recipient's
    registered delivery and when the message was received (its latency's start)."""
    first, second = await queued(context, "a"), await queued(context, "b")
    lifecycle = context.lifecycle
    reads = await asyncio.gather(
        *(lifecycle.read(i) for i in (first.id, "no-such-delivery", second.id, first.id))
    )
    assert [read.delivery.id if read else None for read in reads] == [
        first.id,
        None,
        second.id,
        first.id,
    ]
    async with context.sessions() as session:
        document = await session.get(Document, first.document_id)
    assert document is not None
    assert reads[0] is not None
    assert reads[0].submitted_at == document.received_at
    assert reads[0].recipient_delivery == {"kind": "pull"}


async def test_outcomes_that_end_together_keep_each_guard(context: WorkerContext) -> None:
    """Outcomes recorded together share a transaction and a publish, and each is still its
    own guarded change, in the order they came: one `delivered` per delivery."""
    first, second = await queued(context, "a"), await queued(context, "b")
    lifecycle = context.lifecycle
    made = await asyncio.gather(
        lifecycle.delivered(first, Attempt(1, 0.1), adapter="push", submitted_at=utcnow()),
        lifecycle.retry(first, Attempt(1, 0.1, "503"), delay=0.1),
        lifecycle.dead(second, Attempt(1, 0.1, "410")),
        lifecycle.delivered(second, Attempt(1, 0.1), adapter="push", submitted_at=utcnow()),
        lifecycle.delivered(first, Attempt(1, 0.1), adapter="push", submitted_at=utcnow()),
    )
    assert made == [True, False, True, False, False]
    assert (await row(context, first.id)).state is DeliveryState.DELIVERED
    assert (await row(context, second.id)).state is DeliveryState.DEAD
    found = await records(context, [EVENTS, *RETRY_TIERS], 9)
    assert not [topic for topic, _ in found if topic in RETRY_TIERS]
    assert sorted(types(found)) == sorted(
        ["delivery.queued"] * 2
        + ["delivery.attempted"] * 5
        + ["delivery.delivered", "delivery.dead"]
    )


def test_a_request_read_before_its_change_commits_is_behind() -> None:
    """A replay's or a retry's request is published just before the change commits: a
    worker that reads it first sees the row behind it, and waits."""
    row = Delivery(id="d", replays=0, attempts=2)
    assert Step(1, 1).behind(row), "the replay is not committed yet"
    assert Step(0, 4).behind(row), "the retry after attempt 3 is not committed yet"
    assert not Step(0, 3).behind(row)
    assert not Step(0, 1).behind(row), "a repeated request is handled as the row stands"
