"""The auditor's pages (auditors and operators): search the audit log, a document's
timeline, one entry with its inclusion proof checked in the browser, the signed checkpoints
and a bundle's export for `axis audit verify`.

Every read is the API's own (`axis/api/audit.py`): the same queries, the same proof, the same
bundle. The entry page's check runs in the browser (`static/audit-entry.js` with
`static/audit-verify.js`) on the proof and certificate this router serves under `/ui/`, where
the session's cookie reaches (the API's `/v1/` wants a bearer token).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from axis.api.audit import (
    EntryFilter,
    EntryProof,
    bundle_download,
    document_timeline,
    find_checkpoints,
    find_entries,
    prove_entry,
)
from axis.api.auth import require
from axis.api.params import INT64_MAX
from axis.console import i18n
from axis.console.front_door import ConsoleRoute
from axis.console.templating import refusal, render, signed_in
from axis.credentials import Principal
from axis.problem import Problem
from axis.storage.models import Role
from schemas.events import EventType
from signing.keys import certificate_pem, fingerprint_sha256

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
auditor = [Depends(require(Role.AUDITOR, Role.OPERATOR))]
PAGE_SIZE = 50
TEXT_LIMIT = 200
"""As the API's `Text`: longer search words match nothing."""


class _Unreadable(ValueError):
    """A form field that is not what it should be: the i18n key of its name."""


def _principal(request: Request) -> Principal:
    session = signed_in(request)
    assert session is not None  # the front door let only a signed-in auditor through
    return session.principal


def _text(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > TEXT_LIMIT or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _Unreadable(field)
    return value


def _count(value: str | None, field: str, *, least: int = 0) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not least <= int(value) <= INT64_MAX:
        raise _Unreadable(field)
    return int(value)


def _moment(value: str | None, field: str) -> datetime | None:
    """A time from the form (`datetime-local` gives no zone: the page says it is UTC)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Unreadable(field) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _unreadable(request: Request, error: _Unreadable) -> Response:
    field = i18n.translator(i18n.language(request))(str(error))
    return refusal(
        request, 422, "audit_form_unreadable_title", "audit_form_unreadable_detail", field=field
    )


def _data_summary(data: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's `data` as short (name, value) pairs for a table cell."""
    pairs = []
    for name, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        pairs.append((name, text if len(text) <= 120 else text[:119] + "…"))
    return pairs


@router.get("/ui/audit", name="audit", dependencies=auditor)
async def search(
    request: Request,
    document_id: str | None = None,
    agency: str | None = None,
    type: str | None = None,
    since: str | None = None,
    until: str | None = None,
    after: str | None = None,
) -> Response:
    """The search form and a page of matching entries, in log order."""
    form = {
        "document_id": document_id or "",
        "agency": agency or "",
        "type": type or "",
        "since": since or "",
        "until": until or "",
    }
    context: dict[str, Any] = {"form": form, "types": list(EventType), "summary": _data_summary}
    try:
        wanted = EntryFilter(
            document_id=_text(document_id, "audit_field_document_id"),
            agency=_text(agency, "audit_field_agency"),
            type=_text(type, "audit_field_event_type"),
            since=_moment(since, "audit_field_since"),
            until=_moment(until, "audit_field_until"),
        )
        start = _count(after, "audit_field_after")
    except _Unreadable as error:
        context["error"] = str(error)
        return render(request, "audit_search.html", context, status_code=422)
    found = await find_entries(
        request.app.state.readers,
        _principal(request),
        wanted,
        after=-1 if start is None else start,
        limit=PAGE_SIZE,
    )
    first_query = {name: value for name, value in form.items() if value}
    next_query = None
    if found.next_cursor is not None:
        next_query = first_query | {"after": str(found.next_cursor)}
    context |= {
        "entries": found.entries,
        "first_query": first_query,
        "next_query": next_query,
        "paged": start is not None,
    }
    return render(request, "audit_search.html", context)


@router.get("/ui/audit/documents/{document_id}", name="audit_timeline", dependencies=auditor)
async def timeline(request: Request, document_id: str) -> Response:
    """Everything the log holds about one document, step by step, with each position."""
    try:
        wanted = _text(document_id, "audit_field_document_id")
        entries = await document_timeline(
            request.app.state.readers, _principal(request), wanted or ""
        )
    except (_Unreadable, Problem):
        return refusal(
            request, 404, "audit_no_document_title", "audit_no_document_detail", id=document_id
        )
    context = {"document_id": document_id, "entries": entries, "summary": _data_summary}
    return render(request, "audit_timeline.html", context)


@router.get("/ui/audit/entries/{position}", name="audit_entry", dependencies=auditor)
async def entry(request: Request, position: str) -> Response:
    """One entry: its position and content, and the panel where the browser checks it."""
    try:
        at = _count(position, "audit_field_position")
    except _Unreadable:
        at = None
    found = None
    if at is not None:
        # The search's own query, from just before `at`: the entry there, if there is one.
        page = await find_entries(
            request.app.state.readers, _principal(request), EntryFilter(), after=at - 1, limit=1
        )
        found = page.entries[0] if page.entries and page.entries[0].position == at else None
    if found is None:
        return refusal(
            request, 404, "audit_no_entry_title", "audit_no_entry_detail", position=position
        )
    content = json.dumps(
        {"event": found.event, "position": found.position},
        ensure_ascii=False,
        indent=2,
        sort_keys=True,
    )
    context = {"entry": found, "content": content}
    return render(request, "audit_entry.html", context)


@router.get("/ui/audit/entries/{position}/proof", name="audit_entry_proof", dependencies=auditor)
async def entry_proof(
    request: Request, position: Annotated[int, Path(ge=0, le=INT64_MAX)]
) -> EntryProof:
    """The API's proof of the entry (`GET /v1/audit/entries/{position}/proof`), for the
    entry page's script: the latest checkpoint that covers it."""
    return await prove_entry(request.app.state.sessions, _principal(request), position)


@router.get("/ui/audit/certificate", name="audit_certificate", dependencies=auditor)
async def certificate(request: Request) -> Response:
    """The axis certificate, as `GET /v1/audit/certificate` gives it: to check a proof in
    the browser, or a bundle with `axis audit verify --certificate`."""
    pem = certificate_pem(request.app.state.ingest.identity.certificate)
    disposition = {"Content-Disposition": 'inline; filename="axis.pem"'}
    return Response(pem, media_type="application/x-pem-file", headers=disposition)


@router.get("/ui/audit/checkpoints", name="audit_checkpoints", dependencies=auditor)
async def checkpoints(request: Request, before_size: str | None = None) -> Response:
    """The signed checkpoints, newest first, and the export form."""
    try:
        before = _count(before_size, "audit_field_before_size")
    except _Unreadable as error:
        return _unreadable(request, error)
    rows = await find_checkpoints(
        request.app.state.readers, limit=PAGE_SIZE, before_size=before, newest_first=True
    )
    identity = request.app.state.ingest.identity
    context = {
        "checkpoints": rows,
        "older": rows[-1].size if len(rows) == PAGE_SIZE else None,
        "paged": before is not None,
        "fingerprint": fingerprint_sha256(identity.certificate),
    }
    return render(request, "audit_checkpoints.html", context)


@router.get("/ui/audit/export", name="audit_export", dependencies=auditor)
async def export(
    request: Request,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The API's export of entries `start` up to `end` (the form's range) as a download."""
    try:
        first = _count(start, "audit_field_export_from") or 0
        last = _count(end, "audit_field_export_to", least=1)
    except _Unreadable as error:
        return _unreadable(request, error)
    try:
        return await bundle_download(request, first, last)
    except Problem:
        return refusal(request, 404, "audit_export_empty_title", "audit_export_empty_detail")
