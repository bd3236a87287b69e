"""Sending: documents and status messages in; the sender's view, listings and receipts out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from axis.api.auth import current_principal, require
from axis.api.bodies import read_envelope, received_body
from axis.api.front_door import FrontDoorRoute
from axis.api.params import CursorText, Moment, Text, decode_cursor, encode_cursor
from axis.audit.bundle import b64
from axis.audit.proofs import logged_acceptance
from axis.credentials import Principal
from axis.pipeline.ingest import (
    Accepted,
    Ingest,
    ingest_document,
    ingest_status,
    record_rejection,
)
from axis.problem import Problem
from axis.storage.blobs import Spool
from axis.storage.models import Delivery, Document, DocumentRecipient, Role, Status
from schemas.edxml.models import EnvelopeWarning
from schemas.events import DocumentRejected, Rejection, StatusRejected

router = APIRouter(tags=["documents"], route_class=FrontDoorRoute)
Agency = Annotated[Principal, Depends(require(Role.AGENCY))]
AnyPrincipal = Annotated[Principal, Depends(current_principal)]

XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


class AcceptedAnswer(BaseModel):
    """What a sender gets back: 202 for a new message, 200 for a repeat of one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "document_id": "0b6f3c57-2f7e-5d3e-9a51-6d2f0c1e9b44",
                    "recipients": ["000.00.00.H26"],
                    "received_at": "2026-11-22T04:12:40.063753Z",
                    "receipt_url": "https://axis.example/v1/documents/0b6f3c57-2f7e-5d3e-9a51-6d2f0c1e9b44/receipt",
                }
            ]
        }
    )

    document_id: str
    recipients: list[str]
    received_at: datetime
    receipt_url: str


class RecipientView(BaseModel):
    agency_code: str
    delivery_id: str | None
    """None until the router has created the delivery."""
    state: str
    """queued, delivered, retrying, dead, acked_done, acked_fail."""


class StatusView(BaseModel):
    status_id: str
    sender: str
    status_code: str
    signed: bool
    received_at: datetime
    warnings: list[EnvelopeWarning]
    """Deviations in the status's descriptive fields (accepted all the same)."""


class DocumentView(BaseModel):
    """A document as its sender, its recipients, operators and auditors see it."""

    document_id: str
    edxml_document_id: str
    sender: str
    recipients: list[RecipientView]
    business_doc_type: int
    changes_document_id: str | None
    content_sha256: str
    size_bytes: int
    received_at: datetime
    receipt_url: str
    warnings: list[EnvelopeWarning]
    """Deviations in values the axis only records (trace hops, descriptive dates,
    numbers, free text): accepted all the same; lines are those of the received bytes."""
    statuses: list[StatusView]


class DocumentPage(BaseModel):
    documents: list[DocumentView]
    next_cursor: str | None


async def _enough_disk_space(request: Request, _: Agency) -> None:
    """After authentication, before a byte of the body is read: 503 while the disk is short."""
    request.app.state.disk_space.check()


async def _send(
    request: Request,
    principal: Principal,
    ingest_message: Callable[[Ingest, str, Spool], Awaitable[Accepted]],
    rejected: type[Rejection],
) -> JSONResponse:
    """Read the envelope (within the in-flight budget, into a file), run it through the
    pipeline, answer 202 or 200."""
    ingest: Ingest = request.app.state.ingest
    assert principal.agency_code is not None
    limit = ingest.limits.max_body_bytes
    async with received_body(request, limit) as body:
        try:
            await read_envelope(request, body, limit)
        except Problem as problem:
            await record_rejection(ingest, rejected, principal.agency_code, None, problem)
            raise
        accepted = await ingest_message(ingest, principal.agency_code, body)
    receipt_url = str(request.url_for("read_receipt", document_id=accepted.id))
    answer = AcceptedAnswer(
        document_id=accepted.id,
        recipients=accepted.recipients,
        received_at=accepted.received_at,
        receipt_url=receipt_url,
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if accepted.new else 200)


@router.post(
    "/v1/documents",
    status_code=202,
    dependencies=[Depends(_enough_disk_space)],
    response_model=AcceptedAnswer,
    openapi_extra=XML_BODY,
    responses={
        200: {"description": "A repeat of an earlier, identical send"},
        400: {"description": "The envelope cannot be read (encoding, XML, limits of depth)"},
        409: {"description": "Other bytes under a DocumentId already used"},
    },
)
async def send_document(request: Request, principal: Agency) -> JSONResponse:
    """Send a signed edXML document, as `application/xml` or a multipart file upload."""
    return await _send(request, principal, ingest_document, DocumentRejected)


@router.post(
    "/v1/statuses",
    status_code=202,
    dependencies=[Depends(_enough_disk_space)],
    response_model=AcceptedAnswer,
    openapi_extra=XML_BODY,
    responses={
        200: {"description": "A repeat of an earlier, identical send"},
        400: {"description": "The envelope cannot be read (encoding, XML, limits of depth)"},
        404: {"description": "No document this agency sent or received that it answers"},
        409: {"description": "Other bytes under a status id already used"},
    },
)
async def send_status(request: Request, principal: Agency) -> JSONResponse:
    """Send an edXML status message (01..16) about a document this agency received."""
    return await _send(request, principal, ingest_status, StatusRejected)


def _visible_to(principal: Principal) -> Any:
    """Agencies see what they sent or received; operators and auditors see everything."""
    if principal.role is not Role.AGENCY:
        return True
    received = select(DocumentRecipient.document_id).where(
        DocumentRecipient.agency_code == principal.agency_code
    )
    return or_(Document.sender_code == principal.agency_code, Document.id.in_(received))


def _recipient_view(delivery: Delivery | None, agency_code: str) -> RecipientView:
    if delivery is None:
        return RecipientView(agency_code=agency_code, delivery_id=None, state="queued")
    return RecipientView(
        agency_code=agency_code, delivery_id=delivery.id, state=delivery.state.value
    )


async def _views(request: Request, documents: list[Document]) -> list[DocumentView]:
    """The documents with the statuses received about them (one query for all of them)."""
    statuses: dict[str, list[StatusView]] = {document.id: [] for document in documents}
    deliveries: dict[tuple[str, str], Delivery] = {}
    async with request.app.state.readers() as session:
        for delivery in await session.scalars(
            select(Delivery).where(
                Delivery.document_id.in_(list(statuses)), Delivery.kind == "edoc"
            )
        ):
            deliveries[delivery.document_id, delivery.recipient_code] = delivery
        rows = await session.scalars(
            select(Status)
            .where(Status.document_id.in_(list(statuses)))
            .order_by(Status.received_at)
        )
        for status in rows:
            statuses[status.document_id].append(
                StatusView(
                    status_id=status.id,
                    sender=status.sender_code,
                    status_code=status.status_code,
                    signed=status.certificate_fingerprint is not None,
                    received_at=status.received_at,
                    warnings=[EnvelopeWarning.model_validate(w) for w in status.warnings],
                )
            )
    return [
        DocumentView(
            document_id=document.id,
            edxml_document_id=document.edxml_document_id,
            sender=document.sender_code,
            recipients=[
                _recipient_view(deliveries.get((document.id, r.agency_code)), r.agency_code)
                for r in document.recipients
            ],
            business_doc_type=document.business_doc_type,
            changes_document_id=document.changes_document_id,
            content_sha256=document.content_sha256,
            size_bytes=document.size_bytes,
            received_at=document.received_at,
            receipt_url=str(request.url_for("read_receipt", document_id=document.id)),
            warnings=[EnvelopeWarning.model_validate(w) for w in document.warnings],
            statuses=statuses[document.id],
        )
        for document in documents
    ]


async def _visible_document(request: Request, document_id: str, principal: Principal) -> Document:
    async with request.app.state.readers() as session:
        document: Document | None = await session.scalar(
            select(Document)
            .where(Document.id == document_id, _visible_to(principal))
            .options(selectinload(Document.recipients))
        )
    if document is None:
        # The same answer whether it does not exist or belongs to others: no leaks.
        raise Problem(404, "document_not_found", "No such document", f"no document {document_id}")
    return document


@router.get("/v1/documents/{document_id}")
async def read_document(
    request: Request, document_id: Text, principal: AnyPrincipal
) -> DocumentView:
    """The document's recipients and the status messages received about it."""
    [view] = await _views(request, [await _visible_document(request, document_id, principal)])
    return view


class LoggedAcceptance(BaseModel):
    """Where the acceptance stands in the audit log, with the proof that it is there."""

    position: int
    entry: str
    """Base64 of the log entry (canonical JSON); its leaf hash is SHA-256(0x00 || entry)."""
    leaf_hash: str
    size: int
    root: str
    proof: list[str]
    """RFC 9162 inclusion proof of the entry in the tree of `size` entries, base64 hashes."""
    checkpoint: str | None
    """The axis's signed note for that tree (signing/checkpoints.py); None while no
    checkpoint covers the entry yet: the proof is then against the current tree head."""


class ReceiptWithProof(BaseModel):
    receipt: str
    """The signed XML receipt, exactly as `Accept: application/xml` returns it."""
    audit: LoggedAcceptance | None
    """None until the audit writer has logged the acceptance."""


@router.get(
    "/v1/documents/{document_id}/receipt",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/xml": {},
                "application/json": {"schema": ReceiptWithProof.model_json_schema()},
            }
        }
    },
)
async def read_receipt(request: Request, document_id: Text, principal: AnyPrincipal) -> Response:
    """The axis's signed XML receipt (verifiable with `xmlsec1` and the axis certificate).
    With `Accept: application/json`, the receipt and where its acceptance stands in the
    audit log, with an inclusion proof."""
    async with request.app.state.readers() as session:
        status = await session.get(Status, document_id)
    if status is not None:
        await _visible_document(request, status.document_id, principal)
        receipt_sha256 = status.receipt_sha256
    else:
        receipt_sha256 = (await _visible_document(request, document_id, principal)).receipt_sha256
    receipt = await request.app.state.blobs.get(receipt_sha256)
    if "application/json" not in request.headers.get("accept", ""):
        return Response(receipt, media_type="application/xml")
    async with request.app.state.sessions.begin() as session:
        if status is not None:
            logged = await logged_acceptance(session, status.document_id, status.id)
        else:
            logged = await logged_acceptance(session, document_id)
    audit = None
    if logged is not None:
        audit = LoggedAcceptance(
            position=logged.position,
            entry=b64(logged.entry),
            leaf_hash=b64(logged.leaf_hash),
            size=logged.size,
            root=b64(logged.root),
            proof=[b64(node) for node in logged.proof],
            checkpoint=logged.checkpoint,
        )
    return JSONResponse(
        ReceiptWithProof(receipt=receipt.decode(), audit=audit).model_dump(mode="json")
    )


@router.get("/v1/documents", responses={400: {"description": "`direction` from a non-agency"}})
async def list_documents(
    request: Request,
    principal: AnyPrincipal,
    direction: Literal["sent", "received"] | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorText | None = None,
) -> DocumentPage:
    """Documents newest first; an agency sees only what it sent (or received)."""
    query = select(Document).where(_visible_to(principal))
    if direction is not None:
        if principal.agency_code is None:
            raise Problem(
                400, "direction_needs_agency", "Bad filter", "direction applies to agencies only"
            )
        if direction == "sent":
            query = query.where(Document.sender_code == principal.agency_code)
        else:
            query = query.where(
                Document.id.in_(
                    select(DocumentRecipient.document_id).where(
                        DocumentRecipient.agency_code == principal.agency_code
                    )
                )
            )
    if since is not None:
        query = query.where(Document.received_at >= since)
    if until is not None:
        query = query.where(Document.received_at < until)
    if cursor is not None:
        received_at, document_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Document.received_at < received_at,
                (Document.received_at == received_at) & (Document.id < document_id),
            )
        )
    query = (
        query.order_by(Document.received_at.desc(), Document.id.desc())
        .limit(limit + 1)
        .options(selectinload(Document.recipients))
    )
    async with request.app.state.readers() as session:
        documents = list(await session.scalars(query))
    page = documents[:limit]
    next_cursor = None
    if len(documents) > limit:
        next_cursor = encode_cursor(page[-1].received_at, page[-1].id)
    return DocumentPage(documents=await _views(request, page), next_cursor=next_cursor)
