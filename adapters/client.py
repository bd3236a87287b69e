"""The agency-side client of the axis: send documents and statuses, fetch receipts, read and
acknowledge the inbox, verify what arrives.

Why a client at all: every DMS otherwise re-implements the same details — signing before
sending, keeping the exact bytes for retries and receipts, mapping problem documents to
errors, paging the inbox, and checking both the sender's signature and the axis's evidence
before trusting a delivery. Private keys stay inside `signing/`: the client holds a
`signing.signer.Signer`, which signs without handing out its key.

Retries: the axis answers an identical repeat with 200, but other bytes under a DocumentId
it already accepted with 409. A document rebuilt or re-signed is other bytes, so resend
`SendResult.envelope` / `AxisUnreachable.envelope`, never the model again.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import anyio.to_thread
import httpx
from cryptography import x509
from pydantic import BaseModel, ConfigDict

from adapters.edxml_builder import OutgoingDocument, OutgoingStatus, build_document, build_status
from adapters.verification import (
    Delivered,
    SenderCertificates,
    VerifiedDelivery,
    verify_delivery,
)
from schemas.edxml import DocumentEnvelope, EnvelopeLimits, StatusMessage
from schemas.events import EventType
from signing.certificates import TrustStore
from signing.checkpoints import Checkpoint, verify_checkpoint
from signing.errors import ErrorCode, SignatureError
from signing.evidence import EvidenceKind, EvidenceRecord, verify_evidence
from signing.merkle import leaf_hash, verify_inclusion
from signing.signer import Signer

PROBLEM_TYPE_PREFIX = "urn:edoc-axis:problem:"
XML = "application/xml"
_T = TypeVar("_T")


class AxisError(Exception):
    """A 4xx/5xx answer from the axis, with the fields of its problem document.

    `code` is the stable part of `type` (e.g. `signature_invalid`), what programs match on.
    """

    def __init__(
        self,
        status: int,
        *,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        errors: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if title else f"{status}: {detail}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.retry_after = retry_after
        self.body = dict(body or {})

    @property
    def code(self) -> str:
        """`type` without the axis's URN prefix; `http_<status>` for a non-problem answer."""
        if self.type.startswith(PROBLEM_TYPE_PREFIX):
            return self.type[len(PROBLEM_TYPE_PREFIX) :]
        return f"http_{self.status}"

    @property
    def retryable(self) -> bool:
        """Whether sending the same bytes again later may succeed (429, 5xx)."""
        return self.status == 429 or self.status >= 500


class AxisUnreachable(Exception):
    """No answer from the axis (connection, timeout). `envelope` holds the exact bytes that
    were being sent, so the caller can resend them unchanged."""

    def __init__(self, message: str, envelope: bytes | None = None) -> None:
        super().__init__(message)
        self.envelope = envelope


@dataclass(frozen=True)
class SendResult:
    """The axis's answer to a send, and the exact bytes it accepted."""

    document_id: str
    """The axis's id of the document or status (not the edXML DocumentId)."""
    recipients: list[str]
    received_at: datetime
    receipt_url: str
    repeat: bool
    """True when the axis had already accepted these very bytes (200), False when new (202)."""
    envelope: bytes = field(repr=False)
    """What was sent: keep it to resend and to verify the receipt."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Accepted(_Answer):
    document_id: str
    recipients: list[str]
    received_at: datetime
    receipt_url: str


class RecipientInfo(_Answer):
    agency_code: str


class StatusInfo(_Answer):
    status_id: str
    sender: str
    status_code: str
    signed: bool
    received_at: datetime


class DocumentInfo(_Answer):
    """GET /v1/documents/{id}: the document, its recipients and the statuses about it."""

    document_id: str
    edxml_document_id: str
    sender: str
    recipients: list[RecipientInfo]
    business_doc_type: int
    content_sha256: str
    size_bytes: int
    received_at: datetime
    receipt_url: str
    statuses: list[StatusInfo]


class InboxItem(_Answer):
    """One delivery waiting in (or acknowledged from) this agency's inbox."""

    delivery_id: str
    type: Literal["edoc", "status"]
    document_id: str
    status_id: str | None = None
    sender: str
    created_at: datetime
    state: str
    content_sha256: str


class InboxPage(_Answer):
    deliveries: list[InboxItem]
    next_cursor: str | None = None


class AckResult(_Answer):
    delivery_id: str
    state: str


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None


def axis_error(response: httpx.Response) -> AxisError:
    """The AxisError for a failed answer: its problem document, or what the body says."""
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    errors = body.get("errors")
    return AxisError(
        response.status_code,
        type=str(body.get("type") or "about:blank"),
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or response.text[:500]),
        errors=errors if isinstance(errors, list) else (),
        retry_after=_retry_after(response),
        body=body,
    )


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class LoggedReceipt:
    """A receipt and where the axis's audit log holds the acceptance, proven."""

    receipt: bytes
    position: int
    """The acceptance's entry in the audit log."""
    checkpoint: Checkpoint
    """The signed tree head the entry was proven to be in."""


class AgencyClient:
    """One agency's connection to the axis (use `async with`, or call `aclose()`).

    `signer` signs models before sending (None: models are sent unsigned, which the axis
    accepts only for statuses of agencies flagged `unsigned_statuses`). `axis_certificate`
    is the axis's evidence certificate, pinned when checking receipts and transit records.
    `transport` replaces the network (tests: `httpx.MockTransport`, `httpx.ASGITransport`).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        signer: Signer | None,
        axis_certificate: x509.Certificate | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
        limits: EnvelopeLimits | None = None,
    ) -> None:
        self.signer = signer
        self.axis_certificate = axis_certificate
        self.limits = limits or EnvelopeLimits()
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "edoc-axis-client/0.1"},
            transport=transport,
            timeout=timeout,
        )

    async def __aenter__(self) -> AgencyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @staticmethod
    async def _in_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """XML building, signing and verifying are CPU work: keep the event loop free."""
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    async def _request(
        self, method: str, url: str, *, envelope: bytes | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise AxisUnreachable(f"{method} {url}: {type(exc).__name__}: {exc}", envelope) from exc
        if response.status_code >= 400:
            raise axis_error(response)
        return response

    # Sending

    async def prepare_document(self, document: OutgoingDocument) -> bytes:
        """The edXML bytes of `document`, signed with this client's key (if it has one).
        Keep them: they are what a retry must send."""
        data = await self._in_thread(build_document, document, limits=self.limits)
        return await self._sign(data)

    async def prepare_status(self, status: OutgoingStatus) -> bytes:
        """The edXML bytes of a status message, signed with this client's key (if any)."""
        data = await self._in_thread(build_status, status)
        return await self._sign(data)

    async def _sign(self, data: bytes) -> bytes:
        if self.signer is None:
            return data
        return await self._in_thread(self.signer.sign_envelope, data)

    async def _send(self, path: str, envelope: bytes) -> SendResult:
        response = await self._request(
            "POST", path, envelope=envelope, content=envelope, headers={"Content-Type": XML}
        )
        answer = _Accepted.model_validate(response.json())
        return SendResult(
            document_id=answer.document_id,
            recipients=answer.recipients,
            received_at=answer.received_at,
            receipt_url=answer.receipt_url,
            repeat=response.status_code == 200,
            envelope=envelope,
        )

    async def send_document(self, envelope: bytes | OutgoingDocument) -> SendResult:
        """POST /v1/documents. Bytes are sent exactly as given (already signed, e.g. by a
        hardware token); a model is built and signed with this client's key first."""
        if isinstance(envelope, OutgoingDocument):
            envelope = await self.prepare_document(envelope)
        elif not isinstance(envelope, bytes):
            raise TypeError("send_document takes edXML bytes or an OutgoingDocument")
        return await self._send("/v1/documents", envelope)

    async def send_status(self, envelope: bytes | OutgoingStatus) -> SendResult:
        """POST /v1/statuses, as `send_document` does for documents."""
        if isinstance(envelope, OutgoingStatus):
            envelope = await self.prepare_status(envelope)
        elif not isinstance(envelope, bytes):
            raise TypeError("send_status takes edXML bytes or an OutgoingStatus")
        return await self._send("/v1/statuses", envelope)

    # The sender's view

    async def document(self, document_id: str) -> DocumentInfo:
        """GET /v1/documents/{id}: recipients and the statuses received about it."""
        response = await self._request("GET", f"/v1/documents/{_segment(document_id)}")
        return DocumentInfo.model_validate(response.json())

    async def receipt(self, document_id: str) -> bytes:
        """The axis's signed XML receipt for a document or status this agency sent."""
        response = await self._request("GET", f"/v1/documents/{_segment(document_id)}/receipt")
        return response.content

    def _pinned(self) -> x509.Certificate:
        if self.axis_certificate is None:
            raise ValueError("this client was given no axis certificate to verify evidence with")
        return self.axis_certificate

    async def verify_receipt(self, receipt: bytes, original: bytes) -> EvidenceRecord:
        """Check a receipt: signed by the pinned axis certificate, a receipt (not a transit
        record), about exactly `original` (the bytes sent). SignatureError otherwise."""
        record = await self._in_thread(verify_evidence, receipt, self._pinned(), original=original)
        if record.kind is not EvidenceKind.RECEIPT:
            raise SignatureError(
                ErrorCode.EVIDENCE_MISMATCH, f"this is a {record.kind.value}, not a receipt"
            )
        return record

    async def logged_receipt(
        self, document_id: str, *, audit_origin: str = "edoc-axis/audit"
    ) -> LoggedReceipt | None:
        """The receipt with proof that the axis's audit log holds the acceptance: the
        inclusion proof checked against a checkpoint signed by the pinned axis certificate
        (key name `audit_origin`, the axis's AXIS_AUDIT_ORIGIN). None until a checkpoint
        covers it; SignatureError when the proof or the checkpoint does not hold."""
        response = await self._request(
            "GET",
            f"/v1/documents/{_segment(document_id)}/receipt",
            headers={"Accept": "application/json"},
        )
        answer = response.json()
        audit = answer["audit"]
        if audit is None or audit["checkpoint"] is None:
            return None
        checkpoint = verify_checkpoint(audit["checkpoint"], self._pinned(), audit_origin)
        try:
            entry = base64.b64decode(audit["entry"], validate=True)
            proof = [base64.b64decode(node, validate=True) for node in audit["proof"]]
            event = json.loads(entry)["event"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError(ErrorCode.MALFORMED, f"a malformed audit answer: {exc}") from exc
        if event["type"] not in (EventType.DOCUMENT_ACCEPTED, EventType.STATUS_ACCEPTED) or (
            document_id not in (event["document_id"], event["data"].get("status_id"))
        ):
            raise SignatureError(
                ErrorCode.EVIDENCE_MISMATCH, f"the logged entry is about {event['document_id']}"
            )
        if checkpoint.size != audit["size"] or not verify_inclusion(
            leaf_hash(entry), audit["position"], checkpoint.size, proof, checkpoint.root
        ):
            raise SignatureError(
                ErrorCode.EVIDENCE_MISMATCH, "the inclusion proof does not lead to the checkpoint"
            )
        return LoggedReceipt(answer["receipt"].encode(), audit["position"], checkpoint)

    # The inbox

    async def inbox_page(
        self,
        type: Literal["edoc", "status"] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        """One page of GET /v1/inbox, oldest first."""
        params: dict[str, str | int] = {"limit": limit}
        if type is not None:
            params["type"] = type
        if cursor is not None:
            params["cursor"] = cursor
        response = await self._request("GET", "/v1/inbox", params=params)
        return InboxPage.model_validate(response.json())

    async def inbox(
        self, type: Literal["edoc", "status"] | None = None, limit: int = 100
    ) -> AsyncIterator[InboxItem]:
        """Every delivery in the inbox, page after page (`limit` per page)."""
        cursor: str | None = None
        while True:
            page = await self.inbox_page(type, limit, cursor)
            for item in page.deliveries:
                yield item
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    async def download(self, delivery_id: str) -> Delivered:
        """The original envelope bytes and the axis's transit record of one delivery."""
        path = f"/v1/inbox/{_segment(delivery_id)}"
        envelope = await self._request("GET", path)
        evidence = await self._request("GET", f"{path}/evidence")
        answered = envelope.headers.get("x-axis-delivery-id")
        if answered is not None and answered != delivery_id:
            raise AxisError(
                envelope.status_code,
                title="Wrong delivery",
                detail=f"asked for {delivery_id}, the axis answered {answered}",
            )
        return Delivered(
            delivery_id=delivery_id,
            document_id=envelope.headers.get("x-axis-document-id"),
            envelope=envelope.content,
            evidence=evidence.content,
        )

    async def ack(
        self, delivery_id: str, result: Literal["done", "fail"], reason: str = ""
    ) -> AckResult:
        """Acknowledge a delivery: `done` once the DMS has it, `fail` (with why) otherwise."""
        response = await self._request(
            "POST",
            f"/v1/inbox/{_segment(delivery_id)}/ack",
            json={"result": result, "reason": reason},
        )
        return AckResult.model_validate(response.json())

    async def verify_delivered(
        self,
        delivered: Delivered,
        sender_certificates: SenderCertificates,
        trust: TrustStore,
        *,
        allow_unsigned: bool = False,
        allow_sha1: bool = False,
    ) -> DocumentEnvelope | StatusMessage:
        """The delivered message read from what its sender signed, once the sender's
        signature and the axis's transit record both verify; SignatureError otherwise.
        (`adapters.verification.verify_delivery` also returns the record and the signer.)"""
        verified: VerifiedDelivery = await self._in_thread(
            verify_delivery,
            delivered,
            axis_certificate=self._pinned(),
            sender_certificates=sender_certificates,
            trust=trust,
            limits=self.limits,
            allow_unsigned=allow_unsigned,
            allow_sha1=allow_sha1,
        )
        return verified.message
