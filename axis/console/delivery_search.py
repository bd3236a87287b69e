"""Finding deliveries for the operator's pages: by document, agency, state and time, newest
first, paged with the API's cursors (`axis/api/params.py`).

A filter comes from a page's query string as typed into its form: empty fields are no
filter, a time without a zone (an HTML `datetime-local` field) is UTC, and what cannot be a
filter (a control character, a time that is not one) is a message on the page, not a 422.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.api.params import decode_cursor, encode_cursor
from axis.problem import Problem
from axis.storage.models import AuditEntry, Delivery, DeliveryState, Document

PAGE_SIZE = 50
FIELDS = ("document", "agency", "state", "since", "until")


@dataclass(frozen=True)
class DeliveryFilter:
    document: str | None = None
    """The axis's document id or the edXML DocumentId."""
    agency: str | None = None
    """Sender or recipient."""
    state: DeliveryState | None = None
    since: datetime | None = None
    until: datetime | None = None
    errors: tuple[str, ...] = field(default=(), compare=False)
    """The fields that could not be read (i18n keys of the form's labels)."""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> DeliveryFilter:
        errors: list[str] = []

        def text(name: str) -> str | None:
            value = query.get(name, "").strip()
            if len(value) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in value):
                errors.append(name)
                return None
            return value or None

        def moment(name: str) -> datetime | None:
            value = text(name)
            if value is None:
                return None
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                errors.append(name)
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

        state_text = text("state")
        state = None
        if state_text is not None:
            try:
                state = DeliveryState(state_text)
            except ValueError:
                errors.append("state")
        return cls(
            document=text("document"),
            agency=text("agency"),
            state=state,
            since=moment("since"),
            until=moment("until"),
            errors=tuple(errors),
        )

    def dead(self) -> DeliveryFilter:
        return replace(self, state=DeliveryState.DEAD)

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.document is not None:
            by_edxml_id = select(Document.id).where(Document.edxml_document_id == self.document)
            clauses.append(
                or_(Delivery.document_id == self.document, Delivery.document_id.in_(by_edxml_id))
            )
        if self.agency is not None:
            clauses.append(
                or_(Delivery.recipient_code == self.agency, Delivery.sender_code == self.agency)
            )
        if self.state is not None:
            clauses.append(Delivery.state == self.state)
        if self.since is not None:
            clauses.append(Delivery.created_at >= self.since)
        if self.until is not None:
            clauses.append(Delivery.created_at < self.until)
        return clauses

    def params(self) -> dict[str, str]:
        """The filter as the form's fields (for links: paging, replaying what matches)."""
        values = {
            "document": self.document,
            "agency": self.agency,
            "state": self.state.value if self.state else None,
            "since": self.since.strftime("%Y-%m-%dT%H:%M") if self.since else None,
            "until": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else None,
        }
        return {name: value for name, value in values.items() if value is not None}

    def query_string(self, **more: str) -> str:
        return urlencode(self.params() | more)


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None
    bad_cursor: bool = False


async def search(
    session: AsyncSession, found: DeliveryFilter, cursor: str | None, limit: int = PAGE_SIZE
) -> DeliveryPage:
    """A page of the deliveries `found` matches, newest first, from `cursor` on."""
    query = select(Delivery).where(*found.where())
    if cursor:
        try:
            before, last_id = decode_cursor(cursor)
        except Problem:
            return DeliveryPage([], None, bad_cursor=True)
        query = query.where(
            or_(
                Delivery.created_at < before,
                (Delivery.created_at == before) & (Delivery.id < last_id),
            )
        )
    query = query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return DeliveryPage(page, next_cursor)


async def matching_ids(session: AsyncSession, found: DeliveryFilter) -> list[str]:
    """Every delivery `found` matches, oldest first (the order a bulk replay takes them)."""
    query = select(Delivery.id).where(*found.where()).order_by(Delivery.created_at, Delivery.id)
    return list(await session.scalars(query))


async def steps(session: AsyncSession, delivery: Delivery) -> list[dict[str, Any]]:
    """What the audit log holds about `delivery` (queued, attempts with their errors,
    retries, dead, replays, delivered, acknowledged), in log order."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.document_id == delivery.document_id)
        .where(AuditEntry.event_type.startswith("delivery."))
        .order_by(AuditEntry.position)
    )
    found = []
    for entry in await session.scalars(query):
        event = json.loads(entry.entry)["event"]
        if event["data"].get("delivery_id") == delivery.id:
            found.append({"position": entry.position, **event})
    return found
