"""The audit writer and events outside the vocabulary: one published by a newer axis (or a
bug) is logged as it is, in its place, with a warning; the log stays whole and contiguous."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.audit.writer import append_events
from axis.bus import Record
from axis.events import Event
from axis.storage.database import create_session_factory
from axis.storage.models import AuditEntry
from schemas.events import DeliveryReplayed

UNKNOWN: dict[str, Any] = {
    "id": "00000000-0000-4000-8000-00000000000f",
    "type": "delivery.teleported",
    "at": "2026-01-02T03:04:05.678000Z",
    "actor": "axis",
    "document_id": None,
    "agency_code": None,
    "data": {"delivery_id": "d-2"},
}


def _known(n: int) -> bytes:
    return Event.of(DeliveryReplayed(delivery_id=f"d-{n}", after_attempts=n), actor="axis").encode()


async def test_an_event_outside_the_vocabulary_is_logged_in_its_place_with_a_warning(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    misfit = {**UNKNOWN, "id": UNKNOWN["id"][:-1] + "e", "type": "delivery.replayed"}
    values = [_known(0), json.dumps(UNKNOWN).encode(), json.dumps(misfit).encode(), _known(3)]
    records = [Record("events", 0, n, None, value) for n, value in enumerate(values)]
    sessions = create_session_factory(engine)

    with caplog.at_level(logging.WARNING, logger="axis.audit.writer"):
        assert await append_events(sessions, records) == 4

    async with sessions() as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.position)))
    assert [entry.position for entry in entries] == [0, 1, 2, 3]
    assert [entry.event_type for entry in entries] == [
        "delivery.replayed",
        "delivery.teleported",
        "delivery.replayed",
        "delivery.replayed",
    ]
    assert json.loads(entries[1].entry)["event"] == UNKNOWN, "recorded as it was published"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert "delivery.teleported" in warned[0] and UNKNOWN["id"] in warned[0]
    assert "after_attempts" in warned[1] and misfit["id"] in warned[1]
