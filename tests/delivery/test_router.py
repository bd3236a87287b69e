"""The router routes the records of one `getmany` together, on each bus and database: a
record whose message row is missing holds up none of the others, and is skipped once it is
an orphan."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from axis.bus import Record
from axis.bus.topics import DOCUMENTS
from axis.delivery.router import COMMIT_WAIT_SECONDS, ORPHAN_AFTER_SECONDS, route
from axis.messages import DocumentAccepted, bus_message
from axis.storage.models import Agency, AgencyLevel, Delivery, DeliveryState, Document
from axis.workers.context import WorkerContext

SENDER = "000.00.00.G22"
RECIPIENTS = ["000.00.00.H26", "000.00.00.H27"]
DEADLINE = 30.0


async def agencies(context: WorkerContext) -> None:
    async with context.sessions.begin() as session:
        for code in (SENDER, *RECIPIENTS):
            session.add(Agency(code=code, name=code, level=AgencyLevel.PROVINCE))


async def committed_document(context: WorkerContext, name: str) -> str:
    document_id = str(uuid.uuid4())
    async with context.sessions.begin() as session:
        session.add(
            Document(
                id=document_id,
                sender_code=SENDER,
                edxml_document_id=name,
                content_sha256="a" * 64,
                size_bytes=1,
                certificate_fingerprint="b" * 64,
                receipt_sha256="c" * 64,
                transit_sha256="d" * 64,
            )
        )
    return document_id


def accepted(document_id: str, offset: int, *, age: float = 0.0) -> Record:
    """The router's record of an accepted document, published `age` seconds ago."""
    message = bus_message(
        DOCUMENTS,
        document_id,
        DocumentAccepted(
            document_id=document_id,
            edxml_document_id=document_id,
            sender=SENDER,
            recipients=RECIPIENTS,
            business_doc_type=0,
            changes_document_id=None,
            content_sha256="a" * 64,
            receipt_sha256="c" * 64,
            transit_sha256="d" * 64,
            received_at=datetime.now(UTC),
        ),
    )
    timestamp_ms = int((time.time() - age) * 1000)
    return Record(DOCUMENTS, 0, offset, message.key, message.value, message.headers, timestamp_ms)


async def states(context: WorkerContext, document_id: str) -> list[DeliveryState]:
    query = select(Delivery.state).where(Delivery.document_id == document_id)
    async with context.sessions() as session:
        return list(await session.scalars(query))


async def test_a_batch_is_routed_together_and_an_orphan_holds_up_no_other(
    context: WorkerContext,
) -> None:
    await agencies(context)
    first, last = (
        await committed_document(context, "first"),
        await committed_document(context, "last"),
    )
    orphan = str(uuid.uuid4())  # its API died before committing: no row ever comes
    batch = [
        accepted(first, 0),
        accepted(orphan, 1, age=ORPHAN_AFTER_SECONDS),
        accepted(last, 2),
    ]
    started = time.monotonic()
    routing = asyncio.create_task(route(context, batch))
    end = time.monotonic() + DEADLINE
    while len(await states(context, last)) < len(RECIPIENTS):
        assert time.monotonic() < end, "the documents of the batch were never routed"
        await asyncio.sleep(0.05)
    assert not routing.done(), "the orphan is waited for as long as a commit could take"
    assert await states(context, first) == [DeliveryState.QUEUED] * len(RECIPIENTS)
    await asyncio.wait_for(routing, DEADLINE)
    assert time.monotonic() - started >= COMMIT_WAIT_SECONDS
    assert await states(context, orphan) == []


async def test_a_document_accepted_twice_in_one_batch_is_routed_once(
    context: WorkerContext,
) -> None:
    """An API killed between publishing `accepted` and answering leaves a record; the
    sender's resend is accepted again under the same document id, with a second record. Both
    in one `getmany` (a rebalance hands the batch to another router) make the same deliveries
    twice: they are queued once, not inserted twice forever."""
    await agencies(context)
    document = await committed_document(context, "resent")
    batch = [accepted(document, 0), accepted(document, 1)]
    await asyncio.wait_for(route(context, batch), DEADLINE)
    assert await states(context, document) == [DeliveryState.QUEUED] * len(RECIPIENTS)
