"""The auditor's view of the audit log: search entries, read a document's timeline, get
proofs and checkpoints, export a range for offline verification.

Auditors and operators read every entry; an agency reads the entries about documents it
sent or received, and nothing else (the rest looks like nothing at all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.api.auth import current_principal, require
from axis.api.front_door import FrontDoorRoute
from axis.api.params import INT64_MAX, Count, Moment, Text
from axis.audit import merkle
from axis.audit.bundle import BundleRangeError, b64, bundle_lines, bundle_range
from axis.audit.tree import DatabaseLeafStore, log_size
from axis.credentials import Principal
from axis.problem import Problem
from axis.storage.models import AuditCheckpoint, AuditEntry, Document, DocumentRecipient, Role
from signing.keys import certificate_pem

router = APIRouter(tags=["audit"], route_class=FrontDoorRoute)
AnyPrincipal = Annotated[Principal, Depends(current_principal)]
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR, Role.OPERATOR))]
BEYOND_THE_LOG: dict[int | str, dict[str, Any]] = {404: {"description": "A size beyond the log"}}


class AuditEntryView(BaseModel):
    position: int
    """The entry's leaf index in the log's Merkle tree."""
    event_id: str
    type: str
    at: datetime
    document_id: str | None
    agency_code: str | None
    event: dict[str, Any]
    """The event itself, parsed from the entry: the exact bytes the leaf hash covers are
    `{"event": <this>, "position": <position>}` as canonical JSON (`axis.audit.writer`)."""


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
        event=json.loads(entry.entry)["event"],
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


@dataclass(frozen=True)
class EntryFilter:
    """Which entries a search wants: all of them given the defaults."""

    document_id: str | None = None
    agency: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def find_entries(
    readers: async_sessionmaker[AsyncSession],
    principal: Principal,
    wanted: EntryFilter,
    after: int = -1,
    limit: int = 100,
) -> AuditPage:
    """The entries `principal` may read that match `wanted`, in log order after position
    `after`: the API's search and the console's."""
    query = select(AuditEntry).where(_readable_by(principal), AuditEntry.position > after)
    if wanted.document_id is not None:
        query = query.where(AuditEntry.document_id == wanted.document_id)
    if wanted.agency is not None:
        query = query.where(AuditEntry.agency_code == wanted.agency)
    if wanted.type is not None:
        query = query.where(AuditEntry.event_type == wanted.type)
    if wanted.since is not None:
        query = query.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.at < wanted.until)
    async with readers() as session:
        rows = list(await session.scalars(query.order_by(AuditEntry.position).limit(limit + 1)))
    page = rows[:limit]
    return AuditPage(
        entries=[_view(entry) for entry in page],
        next_cursor=page[-1].position if len(rows) > limit else None,
    )


@router.get("/v1/audit/entries")
async def search_entries(
    request: Request,
    principal: AnyPrincipal,
    document_id: Text | None = None,
    agency: Text | None = None,
    type: Text | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    after: Annotated[int, Query(ge=-1, le=INT64_MAX)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Entries in log order, filtered; page on with `after=<next_cursor>`."""
    wanted = EntryFilter(document_id, agency, type, since, until)
    return await find_entries(request.app.state.readers, principal, wanted, after, limit)


async def document_timeline(
    readers: async_sessionmaker[AsyncSession], principal: Principal, document_id: str
) -> list[AuditEntryView]:
    """Every entry about `document_id` that `principal` may read, in log order; a 404
    problem when there is none."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.document_id == document_id, _readable_by(principal))
        .order_by(AuditEntry.position)
    )
    async with readers() as session:
        entries = list(await session.scalars(query))
    if not entries:
        raise Problem(
            404, "document_not_found", "No such document", f"no entries for {document_id}"
        )
    return [_view(entry) for entry in entries]


@router.get("/v1/audit/documents/{document_id}/timeline")
async def timeline(
    request: Request, document_id: Text, principal: AnyPrincipal
) -> list[AuditEntryView]:
    """Everything the log holds about one document, in the order it happened."""
    return await document_timeline(request.app.state.readers, principal, document_id)


def _size_within(size: int | None, log_size: int) -> int:
    if size is None:
        return log_size
    if size > log_size:
        raise Problem(404, "beyond_the_log", "Beyond the log", f"the log holds {log_size} entries")
    return size


class TreeHead(BaseModel):
    size: int
    root: str
    """Base64 of the RFC 9162 Merkle tree hash of the first `size` entries."""


class InclusionProof(BaseModel):
    position: int
    size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]


@router.get("/v1/audit/tree", responses=BEYOND_THE_LOG)
async def tree_head(request: Request, principal: Auditor, size: Count | None = None) -> TreeHead:
    """The root hash of the log (or of its first `size` entries)."""
    async with request.app.state.sessions.begin() as session:
        size = _size_within(size, await log_size(session))
        return TreeHead(size=size, root=b64(await merkle.root(DatabaseLeafStore(session), size)))


@router.get(
    "/v1/audit/proofs/inclusion",
    responses={404: {"description": "No entry readable there, or a size beyond the log"}},
)
async def inclusion(
    request: Request,
    principal: AnyPrincipal,
    position: Count,
    size: Annotated[Count | None, Query(ge=1)] = None,
) -> InclusionProof:
    """Proof that the entry at `position` is in the tree of `size` entries (default: all)."""
    async with request.app.state.sessions.begin() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.position == position, _readable_by(principal))
        )
        if entry is None:
            raise Problem(404, "entry_not_found", "No such entry", f"no entry at {position}")
        size = _size_within(size, await log_size(session))
        if position >= size:
            raise Problem(422, "not_in_tree", "Not in that tree", f"{position} >= size {size}")
        store = DatabaseLeafStore(session)
        proof = await merkle.inclusion_proof(store, position, size)
        root = await merkle.root(store, size)
    return InclusionProof(
        position=position,
        size=size,
        leaf_hash=b64(entry.leaf_hash),
        root=b64(root),
        proof=[b64(node) for node in proof],
    )


@router.get("/v1/audit/proofs/consistency", responses=BEYOND_THE_LOG)
async def consistency(
    request: Request,
    principal: Auditor,
    old_size: Count,
    new_size: Count | None = None,
) -> ConsistencyProof:
    """Proof that the log of `old_size` entries is a prefix of the log of `new_size`."""
    async with request.app.state.sessions.begin() as session:
        new_size = _size_within(new_size, await log_size(session))
        if old_size > new_size:
            raise Problem(422, "sizes_reversed", "Sizes reversed", "old_size > new_size")
        store = DatabaseLeafStore(session)
        proof = await merkle.consistency_proof(store, old_size, new_size)
        old_root = await merkle.root(store, old_size)
        new_root = await merkle.root(store, new_size)
    return ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        old_root=b64(old_root),
        new_root=b64(new_root),
        proof=[b64(node) for node in proof],
    )


class CheckpointView(BaseModel):
    size: int
    root: str
    at: datetime
    note: str
    """The signed note: verify it with the axis certificate (`signing.checkpoints`)."""
    timestamp: str | None
    """Base64 of the RFC 3161 timestamp over the note, where a TSA is configured."""


async def find_checkpoints(
    readers: async_sessionmaker[AsyncSession],
    after_size: int = -1,
    limit: int = 100,
    *,
    before_size: int | None = None,
    newest_first: bool = False,
) -> list[CheckpointView]:
    """Signed checkpoints larger than `after_size` (and smaller than `before_size`), oldest
    first, or newest first: the API's list and the console's."""
    query = select(AuditCheckpoint).where(AuditCheckpoint.size > after_size)
    if before_size is not None:
        query = query.where(AuditCheckpoint.size < before_size)
    order = AuditCheckpoint.size.desc() if newest_first else AuditCheckpoint.size
    async with readers() as session:
        rows = list(await session.scalars(query.order_by(order).limit(limit)))
    return [_checkpoint_view(row) for row in rows]


@router.get("/v1/audit/checkpoints")
async def checkpoints(
    request: Request,
    principal: AnyPrincipal,
    after_size: Annotated[int, Query(ge=-1, le=INT64_MAX)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CheckpointView]:
    """Signed checkpoints, oldest first (any principal: they say nothing about contents)."""
    return await find_checkpoints(request.app.state.readers, after_size, limit)


def _checkpoint_view(row: AuditCheckpoint) -> CheckpointView:
    return CheckpointView(
        size=row.size,
        root=b64(row.root),
        at=row.at,
        note=row.note,
        timestamp=b64(row.timestamp) if row.timestamp else None,
    )


class EntryProof(BaseModel):
    """All it takes to check one entry without trusting the server: hash `entry` into its
    leaf, climb `proof` to a root, and compare it with the root of the signed `checkpoint`
    note, whose signature verifies with the axis certificate (`/v1/audit/certificate`).
    `axis/console/static/audit-verify.js` does exactly that in a browser."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    position: int
    entry: str
    """Base64 of the entry's exact bytes: the leaf hash is SHA-256(0x00 || these bytes), and
    they name their own `position`."""
    proof: list[str]
    """Base64 of the RFC 9162 inclusion proof (PATH) from the leaf up, in the tree of
    `checkpoint.size` entries."""
    checkpoint: CheckpointView
    """The signed checkpoint the proof leads to."""


async def prove_entry(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    position: int,
    checkpoint: int | None = None,
) -> EntryProof:
    """`GET /v1/audit/entries/{position}/proof`'s answer, for the API and the console."""
    async with sessions.begin() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.position == position, _readable_by(principal))
        )
        if entry is None:
            raise Problem(404, "entry_not_found", "No such entry", f"no entry at {position}")
        query = select(AuditCheckpoint)
        if checkpoint is None:
            query = query.where(AuditCheckpoint.size > position)
        else:
            query = query.where(AuditCheckpoint.size == checkpoint)
        signed = await session.scalar(query.order_by(AuditCheckpoint.size.desc()).limit(1))
        if signed is None and checkpoint is None:
            raise Problem(
                404,
                "nothing_signed",
                "Not signed yet",
                f"no checkpoint covers entry {position} yet",
            )
        if signed is None:
            raise Problem(
                404,
                "checkpoint_not_found",
                "No such checkpoint",
                f"no checkpoint of size {checkpoint}",
            )
        if position >= signed.size:
            raise Problem(
                422,
                "not_in_tree",
                "Not in that tree",
                f"{position} >= checkpoint size {signed.size}",
            )
        proof = await merkle.inclusion_proof(DatabaseLeafStore(session), position, signed.size)
    return EntryProof(
        position=position,
        entry=b64(entry.entry),
        proof=[b64(node) for node in proof],
        checkpoint=_checkpoint_view(signed),
    )


@router.get(
    "/v1/audit/entries/{position}/proof",
    responses={
        404: {"description": "No entry readable there, no such checkpoint, or none signed yet"},
        422: {"description": "The checkpoint asked for does not cover the entry"},
    },
)
async def entry_proof(
    request: Request,
    principal: AnyPrincipal,
    position: Annotated[int, Path(ge=0, le=INT64_MAX)],
    checkpoint: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
) -> EntryProof:
    """The entry at `position`, its inclusion proof, and the signed checkpoint the proof is
    relative to: the one of size `checkpoint`, or by default the latest (a checkpoint covers
    the entries before its size, so a fresh entry has none until the writer signs again)."""
    return await prove_entry(request.app.state.sessions, principal, position, checkpoint)


async def bundle_download(request: Request, start: int, end: int | None) -> StreamingResponse:
    """The bundle of entries `start` up to `end` as a download (`export`); a 404 problem when
    no checkpoint signs any entry of the range."""
    origin = request.app.state.settings.audit_origin
    async with request.app.state.readers() as session:
        try:
            span = await bundle_range(session, origin, start, end)
        except BundleRangeError as exc:
            raise Problem(404, "nothing_signed", "No signed entries there", str(exc)) from exc
    filename = f"audit-{span.start}-{span.end}.jsonl"
    return StreamingResponse(
        bundle_lines(request.app.state.sessions, span),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/v1/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}},
        404: {"description": "No checkpoint signs any entry of the range"},
    },
)
async def export(
    request: Request,
    principal: Auditor,
    start: Annotated[Count, Query(alias="from")] = 0,
    end: Annotated[Count | None, Query(alias="to", ge=1)] = None,
) -> StreamingResponse:
    """Entries `from` up to `to` (exclusive; default: all) as a bundle of JSON lines, with
    the checkpoints and consistency proofs that let `axis audit verify` check it offline
    (axis/audit/bundle.py describes the format). The range ends at the last checkpoint
    within it, so that a signature covers every entry; the bundle's first line says where."""
    return await bundle_download(request, start, end)


@router.get(
    "/v1/audit/certificate",
    response_class=Response,
    responses={200: {"content": {"application/pem-certificate-chain": {}}}},
)
async def certificate(request: Request, principal: AnyPrincipal) -> Response:
    """The axis certificate that checkpoints and receipts are signed under, in PEM: all an
    auditor needs to verify a bundle offline."""
    pem = certificate_pem(request.app.state.ingest.identity.certificate)
    return Response(pem, media_type="application/pem-certificate-chain")
