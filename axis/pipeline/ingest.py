"""Ingest: from received bytes to an accepted, stored, receipted and published message.

    limits -> parse (XSD + rules) -> the sender is the caller -> the recipients are known and
    active -> verify the sender's signature against its REGISTERED certificates -> read every
    field from the signed tree only -> store the original bytes -> sign a receipt ->
    record and publish (the database transaction commits only once the bus holds the
    `accepted` record) -> answer.

Throughput: the last step is a group commit. Messages ready while a batch is being made
durable wait and go together in the next: one `syncfs` for all their files (see
`axis.storage.blobs`), one transaction for all their rows, one `publish_many` for all their
records and events, then the commit; each sender is answered once its own message is
durable. The registry facts a message needs (agencies, certificates) come from a cache
(`axis.registry_cache`), so a document reads the database in one session: its repeat check.

Ids are derived from what identifies a message (sender + DocumentId for a document, sender +
bytes for a status), so a client's retry after any failure lands on the same id and every
effect downstream stays idempotent.

One parse, one read: the body is parsed once under the limits and the envelope read from
that tree; the signature is verified on the same tree, and when nothing in it escapes the
signature (`VerifiedEnvelope.received_is_signed`: no comments, no xsi attributes) the
envelope already read is what was signed. Otherwise the envelope is read again from the
signed octets, once the received tree is gone.

Memory: the body arrives in a `Spool` (a file in the blob store, hashed as it came) and is
parsed from there, in a thread; the accepted bytes are that file renamed into place. A
document costs about twice its size at its peak, not once per copy.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from axis.bus import Bus, BusError
from axis.bus.topics import DOCUMENTS
from axis.events import Event, event_message, publish_event
from axis.group_commit import GroupCommit
from axis.messages import DocumentAccepted, StatusAccepted, bus_message
from axis.pipeline.rejection import envelope_problem, signature_problem
from axis.problem import Problem
from axis.registry_cache import AgencyFacts, RegistryCache
from axis.storage.blobs import BlobStore, Spool
from axis.storage.models import (
    Document,
    DocumentRecipient,
    Status,
    utcnow,
)
from schemas import events
from schemas.edxml import (
    BusinessDocType,
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    Party,
    SignatureForm,
    StatusMessage,
    envelope_from_tree,
    parse_xml,
)
from schemas.events import DocumentRejected, Rejection, StatusRejected, Transport
from signing.certificates import RegisteredCertificate
from signing.errors import SignatureError
from signing.evidence import EvidenceKind, EvidenceRecord
from signing.identity import AxisIdentity
from signing.xmldsig import VerifiedEnvelope, verify_envelope

logger = logging.getLogger(__name__)

ID_NAMESPACE = uuid.UUID("5b0f4c1e-3f6e-4d7a-9a52-2f1e0c9d7b11")

MESSAGES = Counter(
    "axis_documents_total",
    "Documents and status messages sent to the axis, by kind (document, status), result "
    "(accepted, repeated: an identical resend, rejected) and reason (the problem code)",
    ["kind", "result", "reason"],
)


@dataclass
class Ingest:
    """Everything ingest needs, built once when the service starts. It reads with `readers`
    (`axis.storage.database.reading_sessions`): on SQLite they do not queue behind the one
    writing connection, which a batch holds while it publishes."""

    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    bus: Bus
    blobs: BlobStore
    identity: AxisIdentity
    limits: EnvelopeLimits
    legacy_organ_codes: bool = True
    registry_cache_seconds: float = 2.0
    registry: RegistryCache = field(init=False)
    commits: GroupCommit[Pending, None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.registry = RegistryCache(self.registry_cache_seconds)
        self.commits = GroupCommit(partial(_commit_batch, self))


@dataclass(frozen=True)
class Pending:
    """An accepted message waiting for its batch: its row, and its `accepted` record (keyed
    by its document) and audit events to publish."""

    row: Document | Status
    document_id: str
    accepted: DocumentAccepted | StatusAccepted
    events: Sequence[Event]


@dataclass(frozen=True)
class Accepted:
    """The answer to a sender: `new` is False when this repeats an earlier, identical send."""

    id: str
    kind: Literal["document", "status"]
    recipients: list[str]
    received_at: datetime
    new: bool


async def ingest_document(
    ingest: Ingest, agency_code: str, body: Spool, transport: Transport = "bearer"
) -> Accepted:
    """Accept a document sent by `agency_code`, or raise `Problem` (and record why)."""
    return await _recording_rejections(
        _ingest_document(ingest, agency_code, body, transport),
        ingest, DocumentRejected, agency_code, body, transport,
    )  # fmt: skip


async def ingest_status(
    ingest: Ingest, agency_code: str, body: Spool, transport: Transport = "bearer"
) -> Accepted:
    """Accept a status message sent by `agency_code`, or raise `Problem` (and record why)."""
    return await _recording_rejections(
        _ingest_status(ingest, agency_code, body, transport),
        ingest, StatusRejected, agency_code, body, transport,
    )  # fmt: skip


async def _recording_rejections(
    work: Awaitable[Accepted],
    ingest: Ingest,
    rejected: type[Rejection],
    agency_code: str,
    body: Spool,
    transport: Transport,
) -> Accepted:
    try:
        accepted = await work
    except Problem as rejection:
        await record_rejection(ingest, rejected, agency_code, body, rejection, transport)
        raise
    MESSAGES.labels(accepted.kind, "accepted" if accepted.new else "repeated", "").inc()
    return accepted


async def _ingest_document(
    ingest: Ingest, agency_code: str, body: Spool, transport: Transport
) -> Accepted:
    received_at = utcnow()
    parsed = await asyncio.to_thread(_parse, ingest, body)
    envelope = parsed.envelope
    if not isinstance(envelope, DocumentEnvelope):
        raise Problem(
            422,
            "not_a_document",
            "Not a document",
            "this is a status message: send it to /v1/statuses",
        )
    digest = body.sha256
    async with ingest.readers() as session:
        sender = await _sender(ingest, session, agency_code, envelope.sender_id)
        await _check_recipients(ingest, session, envelope.recipient_ids)
        repeat = await _repeated_document(
            session, _document_uuid(agency_code, envelope.document_id), digest
        )
        if repeat is not None:
            return repeat  # the very bytes this axis verified and accepted before
        certificates = await ingest.registry.certificates(session, agency_code)
    verified, signed = await asyncio.to_thread(
        _verified_model, parsed, certificates, ingest, received_at, allow_sha1=sender.allow_sha1
    )
    if not isinstance(signed, DocumentEnvelope):  # pragma: no cover - the signed tree is it
        raise Problem(422, "not_a_document", "Not a document", "the signed content changed")
    _check_claim(agency_code, signed.sender_id)
    document_id = _document_uuid(agency_code, signed.document_id)
    recipients = sorted(set(signed.recipient_ids))
    if (signed.document_id, recipients) != (envelope.document_id, sorted(envelope.recipient_ids)):
        # Something the signature does not cover (a comment) hid part of a value in the
        # raw parse: check again on what was signed.
        async with ingest.readers() as session:
            await _check_recipients(ingest, session, recipients)
            repeat = await _repeated_document(session, document_id, digest)
        if repeat is not None:
            return repeat

    # Warnings name lines in the received bytes (kept verbatim); they never change routing.
    warnings = envelope.warnings
    business_doc_type = int(signed.business.doc_type) if signed.business else 0
    changes_document_id = None
    if signed.business and signed.business.doc_type is not BusinessDocType.NEW:
        async with ingest.readers() as session:
            changes_document_id = await _changed_document(session, agency_code, signed)
    receipt_sha256, transit_sha256 = await _store_with_evidence(
        ingest, body, document_id, agency_code, recipients, received_at, verified
    )
    document = Document(
        id=document_id,
        sender_code=agency_code,
        edxml_document_id=signed.document_id,
        content_sha256=digest,
        size_bytes=body.size,
        business_doc_type=business_doc_type,
        changes_document_id=changes_document_id,
        certificate_fingerprint=verified.fingerprint,
        receipt_sha256=receipt_sha256,
        transit_sha256=transit_sha256,
        received_at=received_at,
        warnings=[warning.model_dump() for warning in warnings],
        recipients=[DocumentRecipient(agency_code=code) for code in recipients],
    )
    accepted = DocumentAccepted(
        document_id=document_id,
        edxml_document_id=signed.document_id,
        sender=agency_code,
        recipients=recipients,
        business_doc_type=business_doc_type,
        changes_document_id=changes_document_id,
        content_sha256=digest,
        receipt_sha256=receipt_sha256,
        transit_sha256=transit_sha256,
        received_at=received_at,
    )
    actor = f"agency:{agency_code}"
    received = events.DocumentReceived(sha256=digest, size=body.size, transport=transport)
    signature = events.DocumentVerified(
        certificate=verified.fingerprint, algorithm=verified.algorithm
    )
    acceptance = events.DocumentAccepted(
        recipients=recipients,
        business_doc_type=business_doc_type if signed.business is not None else None,
        changes_document_id=changes_document_id,
        warnings=warnings,
    )
    steps = [
        Event.of(received, at=received_at, actor=actor, document_id=document_id,
                 agency_code=agency_code),
        Event.of(signature, actor=actor, document_id=document_id, agency_code=agency_code),
        Event.of(acceptance, actor=actor, document_id=document_id, agency_code=agency_code),
    ]  # fmt: skip
    try:
        await ingest.commits.submit(Pending(document, document_id, accepted, steps))
    except IntegrityError:
        # A concurrent send of the same DocumentId committed first.
        async with ingest.readers() as session:
            repeat = await _repeated_document(session, document_id, digest)
        if repeat is None:  # pragma: no cover - the row that collided is there
            raise
        return repeat
    return Accepted(document_id, "document", recipients, received_at, new=True)


async def _ingest_status(
    ingest: Ingest, agency_code: str, body: Spool, transport: Transport
) -> Accepted:
    received_at = utcnow()
    parsed = await asyncio.to_thread(_parse, ingest, body)
    envelope = parsed.envelope
    if not isinstance(envelope, StatusMessage):
        raise Problem(
            422,
            "not_a_status",
            "Not a status message",
            "this is a document: send it to /v1/documents",
        )
    digest = body.sha256
    status_id = str(uuid.uuid5(ID_NAMESPACE, f"status\n{agency_code}\n{digest}"))
    async with ingest.readers() as session:
        sender = await _sender(ingest, session, agency_code, envelope.sender_id)
        certificates = await ingest.registry.certificates(session, agency_code)
        existing = await session.get(Status, status_id)
    warnings = envelope.warnings

    verified: VerifiedEnvelope | None = None
    if envelope.signature is SignatureForm.XMLDSIG or not sender.unsigned_statuses:
        verified, signed = await asyncio.to_thread(
            _verified_model, parsed, certificates, ingest, received_at, allow_sha1=sender.allow_sha1
        )
        if not isinstance(signed, StatusMessage):  # pragma: no cover - the signed tree is it
            raise Problem(422, "not_a_status", "Not a status", "the signed content changed")
        _check_claim(agency_code, signed.sender_id)
        envelope = signed
    async with ingest.readers() as session:
        document, recipients = await _answered_document(session, envelope, agency_code)
    if existing is not None:
        return Accepted(status_id, "status", recipients, existing.received_at, new=False)

    receipt_sha256, transit_sha256 = await _store_with_evidence(
        ingest, body, status_id, agency_code, recipients, received_at, verified
    )
    status = Status(
        id=status_id,
        document_id=document.id,
        sender_code=agency_code,
        status_code=envelope.status_code.value,
        content_sha256=digest,
        size_bytes=body.size,
        certificate_fingerprint=verified.fingerprint if verified else None,
        receipt_sha256=receipt_sha256,
        transit_sha256=transit_sha256,
        received_at=received_at,
        warnings=[warning.model_dump() for warning in warnings],
    )
    accepted = StatusAccepted(
        status_id=status_id,
        document_id=document.id,
        sender=agency_code,
        recipients=recipients,
        status_code=envelope.status_code.value,
        content_sha256=digest,
        receipt_sha256=receipt_sha256,
        transit_sha256=transit_sha256,
        signed=verified is not None,
        received_at=received_at,
    )
    acceptance = events.StatusAccepted(
        status_id=status_id,
        status_code=status.status_code,
        signed=verified is not None,
        sha256=digest,
        transport=transport,
        warnings=warnings,
    )
    event = Event.of(
        acceptance,
        at=received_at,
        actor=f"agency:{agency_code}",
        document_id=document.id,
        agency_code=agency_code,
    )
    try:
        await ingest.commits.submit(Pending(status, document.id, accepted, [event]))
    except IntegrityError:
        async with ingest.readers() as session:
            existing = await session.get(Status, status_id)
        if existing is None:  # pragma: no cover - the row that collided is there
            raise
        return Accepted(status_id, "status", recipients, existing.received_at, new=False)
    return Accepted(status_id, "status", recipients, received_at, new=True)


async def _store_with_evidence(
    ingest: Ingest,
    body: Spool,
    record_id: str,
    sender: str,
    recipients: list[str],
    received_at: datetime,
    verified: VerifiedEnvelope | None,
) -> tuple[str, str]:
    """Store the original bytes (the received file, renamed into place) and the axis's signed
    receipt (for the sender) and transit record (travelling with the bytes to the
    recipients); their blob keys. Not yet durable: the batch that commits the message's row
    makes them so first."""

    def store() -> tuple[str, str]:
        body.keep_sync(durable=False)
        receipt, transit = (
            ingest.blobs.put_sync(
                ingest.identity.signer.sign_evidence(
                    EvidenceRecord.for_document(
                        (body.sha256, body.size),
                        kind=kind,
                        document_id=record_id,
                        sender=sender,
                        recipients=recipients,
                        time=received_at,
                        verified=verified,
                    )
                ),
                durable=False,
            )
            for kind in (EvidenceKind.RECEIPT, EvidenceKind.TRANSIT)
        )
        return receipt, transit

    return await asyncio.to_thread(store)


def _document_uuid(agency_code: str, edxml_document_id: str) -> str:
    """The same sender and DocumentId always give the same id, across retries and crashes."""
    return str(uuid.uuid5(ID_NAMESPACE, f"document\n{agency_code}\n{edxml_document_id}"))


class Parsed:
    """A body parsed once under the limits: the envelope read from it, and its tree until the
    verifier takes it (a tree is given up, not shared: verifying changes it, and nothing may
    hold it once the signed octets are parsed)."""

    def __init__(self, envelope: DocumentEnvelope | StatusMessage, tree: Any) -> None:
        self.envelope = envelope
        self._tree = tree

    def take_tree(self) -> Any:
        tree, self._tree = self._tree, None
        if tree is None:  # pragma: no cover - each body is verified once
            raise RuntimeError("the received tree was already given to the verifier")
        return tree


def _parse(ingest: Ingest, body: Spool) -> Parsed:
    try:
        tree = parse_xml(body.path, ingest.limits)
        envelope = envelope_from_tree(
            tree, ingest.limits, legacy_organ_codes=ingest.legacy_organ_codes
        )
    except EnvelopeError as error:
        raise envelope_problem(error) from error
    return Parsed(envelope, tree)


def _signed_model(ingest: Ingest, verified: VerifiedEnvelope) -> DocumentEnvelope | StatusMessage:
    """The envelope read again from what the signature covers, and only from that."""
    try:
        return envelope_from_tree(
            verified.signed_xml, ingest.limits, legacy_organ_codes=ingest.legacy_organ_codes
        )
    except EnvelopeError as error:
        raise envelope_problem(error) from error


def _check_claim(agency_code: str, claimed: str) -> None:
    """An agency sends only as itself."""
    if claimed != agency_code:
        raise Problem(
            403,
            "sender_mismatch",
            "Wrong sender",
            f"the envelope is from {claimed}, but this token is for {agency_code}",
            errors=[{"element": "From/OrganId", "message": f"must be {agency_code}"}],
        )


async def _sender(
    ingest: Ingest, session: AsyncSession, agency_code: str, claimed: str
) -> AgencyFacts:
    """The calling agency, which must be the envelope's sender and active."""
    _check_claim(agency_code, claimed)
    agency = (await ingest.registry.agencies(session, [agency_code])).get(agency_code)
    if agency is None or not agency.active:
        raise Problem(
            403, "agency_suspended", "Agency suspended", f"{agency_code} may not send now"
        )
    return agency


async def _check_recipients(ingest: Ingest, session: AsyncSession, codes: Sequence[str]) -> None:
    """Every recipient must be a registered, active agency; the faulty ones are named."""
    found = await ingest.registry.agencies(session, set(codes))
    errors = [
        {"element": "To/OrganId", "value": code, "message": "no agency is registered with it"}
        for code in codes
        if code not in found
    ] + [
        {"element": "To/OrganId", "value": code, "message": "the agency is suspended"}
        for code in codes
        if code in found and not found[code].active
    ]
    if errors:
        named = ", ".join(error["value"] for error in errors)
        raise Problem(
            422, "unknown_recipient", "Recipient not reachable", f"cannot deliver to {named}",
            errors=errors,
        )  # fmt: skip


def _verified_model(
    parsed: Parsed,
    certificates: list[RegisteredCertificate],
    ingest: Ingest,
    received_at: datetime,
    *,
    allow_sha1: bool,
) -> tuple[VerifiedEnvelope, DocumentEnvelope | StatusMessage]:
    """Verify the signature on the received tree, and the envelope as signed: the one read
    from that tree when nothing in it escaped the signature, else read again from the
    signed octets (in a thread: both take a while for a large document)."""
    verified = _verify(parsed.take_tree(), certificates, ingest, received_at, allow_sha1=allow_sha1)
    if verified.received_is_signed:
        verified.signed.close()
        return verified, parsed.envelope
    return verified, _signed_model(ingest, verified)


def _verify(
    tree: Any,
    certificates: list[RegisteredCertificate],
    ingest: Ingest,
    received_at: datetime,
    *,
    allow_sha1: bool,
) -> VerifiedEnvelope:
    if not certificates:
        raise Problem(
            422,
            "signature_certificate_not_registered",
            "Signature refused",
            "the sender has no registered signing certificate",
        )
    try:
        return verify_envelope(
            tree,
            certificates=certificates,
            trust=ingest.identity.trust,
            receipt_time=received_at,
            allow_sha1=allow_sha1,
        )
    except SignatureError as error:
        raise signature_problem(error) from error


async def _changed_document(
    session: AsyncSession, agency_code: str, document: DocumentEnvelope
) -> str:
    """The sender's earlier document that a revoke, update or replace changes."""
    assert document.business is not None
    changed_id = document.business.document_id
    changed = await session.scalar(
        select(Document.id).where(
            Document.sender_code == agency_code, Document.edxml_document_id == changed_id
        )
    )
    if changed is None:
        raise Problem(
            422,
            "changed_document_not_found",
            "Unknown changed document",
            f"{agency_code} sent no document {changed_id!r} for this to "
            f"{document.business.doc_type.name.lower()}",
            errors=[{"element": "Bussiness/DocumentId", "message": "no such document"}],
        )
    return str(changed)


async def _answered_document(
    session: AsyncSession, status: StatusMessage, agency_code: str
) -> tuple[Document, list[str]]:
    """The document a status answers, and who the status goes to.

    ResponseFor/DocumentId is the sender's DocumentId. Who may send each code is the one
    table `STATUS_SENDERS`; a party sending the other party's code is refused (403). A
    recipient's status (01..06, 15, 16) names the document's sender in ResponseFor/OrganId
    and goes to that sender. A recall request (13) comes from the document's sender: real
    software names in ResponseFor/OrganId the recipient asked to give it back, and it goes
    to that recipient; naming the sender itself (the form `adapters/` writes) asks every
    recipient. Anything else looks exactly like an unknown document (404).
    """
    named = status.response_for.organ_id
    code = status.status_code
    query = (
        select(Document)
        .where(Document.edxml_document_id == status.response_for.document_id)
        .options(selectinload(Document.recipients))
    )
    refused: Problem | None = None
    for document in await session.scalars(query):
        recipients = sorted(r.agency_code for r in document.recipients)
        parties = {Party.SENDER} if document.sender_code == agency_code else set()
        if agency_code in recipients:
            parties.add(Party.RECIPIENT)
        if not parties:
            continue
        if code.sent_by not in parties:
            refused = refused or _status_not_allowed(status, agency_code, parties.pop())
        elif code.sent_by is Party.SENDER and named == agency_code:
            return document, recipients
        elif code.sent_by is Party.SENDER and named in recipients:
            return document, [named]
        elif code.sent_by is Party.RECIPIENT and named == document.sender_code:
            return document, [document.sender_code]
    if refused is not None:
        raise refused
    raise Problem(
        404,
        "document_not_found",
        "No such document",
        f"{agency_code} sent or received no document {status.response_for.document_id!r} "
        f"that a status {code.value} naming {named} can answer",
        errors=[{"element": "ResponseFor/DocumentId", "message": "no such document"}],
    )


def _status_not_allowed(status: StatusMessage, agency_code: str, party: Party) -> Problem:
    """403 for a status code that only the other party to the document may send."""
    code = status.status_code
    return Problem(
        403,
        "status_not_allowed",
        "Status not allowed for this party",
        f"{agency_code} is the {party.value} of {status.response_for.document_id!r}; status "
        f"{code.value} ({code.meaning}) is sent only by the document's {code.sent_by.value}",
        errors=[
            {
                "element": "StatusCode",
                "value": code.value,
                "role": party.value,
                "message": f"only the {code.sent_by.value} may send {code.value}",
            }
        ],
    )


async def _repeated_document(
    session: AsyncSession, document_id: str, digest: str
) -> Accepted | None:
    """The first answer again for an identical repeat; 409 for other bytes under the id."""
    existing = await session.get(Document, document_id, options=[selectinload(Document.recipients)])
    if existing is None:
        return None
    if existing.content_sha256 != digest:
        raise Problem(
            409,
            "document_id_conflict",
            "DocumentId already used",
            f"DocumentId {existing.edxml_document_id!r} was already sent with other content",
            errors=[{"element": "DocumentId", "message": "already used for other content"}],
        )
    recipients = [r.agency_code for r in existing.recipients]
    return Accepted(existing.id, "document", recipients, existing.received_at, new=False)


async def _commit_batch(ingest: Ingest, batch: Sequence[Pending]) -> list[BaseException | None]:
    """Make the batch's files durable, then commit its rows once the bus holds its records.
    A row already there (a concurrent identical send, perhaps in this very batch) fails the
    transaction: then each message is committed alone, and only the duplicate gets its
    `IntegrityError`."""
    await ingest.blobs.make_durable()
    try:
        await _commit_published(ingest, batch)
    except IntegrityError as error:
        if len(batch) == 1:
            return [error]
        return [await _committed_alone(ingest, pending) for pending in batch]
    return [None] * len(batch)


async def _committed_alone(ingest: Ingest, pending: Pending) -> IntegrityError | None:
    try:
        await _commit_published(ingest, [pending])
    except IntegrityError as error:
        return error
    return None


async def _commit_published(ingest: Ingest, batch: Sequence[Pending]) -> None:
    """Insert the rows, publish their `accepted` records (keyed by document) and audit
    events in one durable `publish_many`, then commit: a row commits only once the bus
    holds its record."""
    async with ingest.sessions.begin() as session:
        session.add_all(pending.row for pending in batch)
        await session.flush()
        await ingest.bus.publish_many(
            [
                message
                for pending in batch
                for message in (
                    bus_message(DOCUMENTS, pending.document_id, pending.accepted),
                    *(event_message(event) for event in pending.events),
                )
            ]
        )


async def record_rejection(
    ingest: Ingest,
    rejected: type[Rejection],
    agency_code: str,
    body: Spool | None,
    rejection: Problem,
    transport: Transport = "bearer",
) -> None:
    """Every rejection is an audit event (`body` is None when it was refused unread);
    failing to record it must not hide the 4xx."""
    kind = "status" if rejected is StatusRejected else "document"
    MESSAGES.labels(kind, "rejected", rejection.code).inc()
    payload = rejected(
        code=rejection.code,
        status=rejection.status,
        detail=rejection.detail[:500],
        transport=transport,
        sha256=body.sha256 if body is not None else None,
        size=body.size if body is not None else None,
    )
    event = Event.of(payload, actor=f"agency:{agency_code}", agency_code=agency_code)
    try:
        await publish_event(ingest.bus, event)
    except BusError:
        logger.exception("could not record a %s event", rejected.event_type)
