"""The auditor's view of the audit log: search entries and read a document's timeline.

Auditors and operators read every entry; an agency reads the entries about documents it
sent or received, and nothing else (the rest looks like nothing at all).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import or_, select

from axis.api.auth import current_principal
from axis.credentials import Principal
from axis.problem import Problem
from axis.storage.models import AuditEntry, Document, DocumentRecipient, Role

router = APIRouter(tags=["audit"])
AnyPrincipal = Annotated[Principal, Depends(current_principal)]


class AuditEntryView(BaseModel):
    position: int
    """The entry's leaf index in the log's Merkle tree."""
    event_id: str
    type: str
    at: datetime
    document_id: str | None
    agency_code: str | None
    event: dict[str, Any]
    """The event itself, parsed from the exact bytes the leaf hash covers."""


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    next_cursor: int | None
    """The position to ask for next (`after=`), None at the end."""


def _view(entry: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        position=entry.position,
        event_id=entry.event_id,
        type=entry.event_type,
        at=entry.at,
        document_id=entry.document_id,
        agency_code=entry.agency_code,
        event=json.loads(entry.entry),
    )


def _readable_by(principal: Principal) -> Any:
    if principal.role is not Role.AGENCY:
        return True
    received = select(DocumentRecipient.document_id).where(
        DocumentRecipient.agency_code == principal.agency_code
    )
    own = select(Document.id).where(
        or_(Document.sender_code == principal.agency_code, Document.id.in_(received))
    )
    return AuditEntry.document_id.in_(own)


@router.get("/v1/audit/entries")
async def search_entries(
    request: Request,
    principal: AnyPrincipal,
    document_id: str | None = None,
    agency: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Entries in log order, filtered; page on with `after=<next_cursor>`."""
    query = select(AuditEntry).where(_readable_by(principal), AuditEntry.position > after)
    if document_id is not None:
        query = query.where(AuditEntry.document_id == document_id)
    if agency is not None:
        query = query.where(AuditEntry.agency_code == agency)
    if type is not None:
        query = query.where(AuditEntry.event_type == type)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    async with request.app.state.sessions() as session:
        rows = list(await session.scalars(query.order_by(AuditEntry.position).limit(limit + 1)))
    page = rows[:limit]
    return AuditPage(
        entries=[_view(entry) for entry in page],
        next_cursor=page[-1].position if len(rows) > limit else None,
    )


@router.get("/v1/audit/documents/{document_id}/timeline")
async def timeline(
    request: Request, document_id: str, principal: AnyPrincipal
) -> list[AuditEntryView]:
    """Everything the log holds about one document, in the order it happened."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.document_id == document_id, _readable_by(principal))
        .order_by(AuditEntry.position)
    )
    async with request.app.state.sessions() as session:
        entries = list(await session.scalars(query))
    if not entries:
        raise Problem(
            404, "document_not_found", "No such document", f"no entries for {document_id}"
        )
    return [_view(entry) for entry in entries]
