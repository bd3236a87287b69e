"""Typed views of an accepted envelope: a document or a status message.

Why pydantic, frozen: the pipeline, the router and the audit log pass these around and
serialise them; nothing may change them after the envelope was checked. Attachment bytes
are never kept here, only their decoded size and SHA-256 (the original bytes are stored
verbatim elsewhere). Empty elements in the envelope become None (or are left out of lists).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatusCode(StrEnum):
    """Status codes of QCVN 102:2016 / QĐ 28/2018/QĐ-TTg that agency software sends.

    Some editions of the regulation also list 07-12 and 14; no software we could find
    sends them, so they are refused as unknown until one is seen for real.
    """

    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    COMPLETED = "06"
    RECALL_REQUESTED = "13"
    RECALL_AGREED = "15"
    RECALL_REFUSED = "16"

    @property
    def meaning(self) -> str:
        """What the code says, in English."""
        return _STATUS_MEANINGS[self]

    @property
    def sent_by(self) -> Party:
        """Which party to the document may send this code (`STATUS_SENDERS`)."""
        return STATUS_SENDERS[self]


class Party(StrEnum):
    """A party to a document: the agency that sent it, or one it was sent to."""

    SENDER = "sender"
    RECIPIENT = "recipient"


_STATUS_MEANINGS: dict[StatusCode, str] = {
    StatusCode.ARRIVED: "arrived (đã đến)",
    StatusCode.REFUSED: "refused (từ chối tiếp nhận)",
    StatusCode.ACCEPTED: "accepted and registered (đã tiếp nhận, vào sổ)",
    StatusCode.ASSIGNED: "assigned for handling (phân công xử lý)",
    StatusCode.PROCESSING: "processing (đang xử lý)",
    StatusCode.COMPLETED: "completed (hoàn thành)",
    StatusCode.RECALL_REQUESTED: "the sender asks to recall the document (lấy lại)",
    StatusCode.RECALL_AGREED: "recall or update agreed (đồng ý lấy lại / cập nhật)",
    StatusCode.RECALL_REFUSED: "recall or update refused (từ chối lấy lại / cập nhật)",
}

STATUS_SENDERS: dict[StatusCode, Party] = {
    StatusCode.ARRIVED: Party.RECIPIENT,
    StatusCode.REFUSED: Party.RECIPIENT,
    StatusCode.ACCEPTED: Party.RECIPIENT,
    StatusCode.ASSIGNED: Party.RECIPIENT,
    StatusCode.PROCESSING: Party.RECIPIENT,
    StatusCode.COMPLETED: Party.RECIPIENT,
    StatusCode.RECALL_REQUESTED: Party.SENDER,
    StatusCode.RECALL_AGREED: Party.RECIPIENT,
    StatusCode.RECALL_REFUSED: Party.RECIPIENT,
}
"""Who may send each status code, the one table the axis checks every status against: a
recipient reports what became of the document and answers a recall; only the sender asks
to recall (QĐ 28/2018/QĐ-TTg)."""


class BusinessDocType(IntEnum):
    """BussinessDocType: what this envelope does to the document it carries."""

    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


class SignatureForm(StrEnum):
    """Which Signature element the header holds."""

    XMLDSIG = "xmldsig"
    """A ds:Signature in the xmldsig namespace: the only form that can verify."""
    EDXML_NAMESPACE = "edxml_namespace"
    """A Signature written into the edXML namespace (no xmlns); it cannot verify as XMLDSig."""


class Organization(_Model):
    """From, To, or the sender of a status."""

    organ_id: str
    organ_name: str | None = None
    organization_in_charge: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


class Code(_Model):
    """The document's number and notation (số, ký hiệu), e.g. 2491 / STC-BCTC."""

    code_number: str | None = None
    code_notation: str | None = None


class EnvelopeWarning(_Model):
    """A value the axis only records that deviates from QCVN 102:2016: accepted, but said.

    The same fields as an EnvelopeError (`schemas.edxml.rules` decides which rule refuses and
    which warns), so a client reads both the same way.
    """

    code: str
    message: str
    line: int | None = None
    element: str | None = None


class ReceivedPromulgationInfo(_Model):
    """PromulgationInfo as received: the date is None where it could not be read (a warning
    says so); the axis only records it. Read as a PromulgationInfo whenever it could."""

    place: str | None = None
    promulgation_date: date | None = None


class PromulgationInfo(ReceivedPromulgationInfo):
    """Where and when a document was promulgated, as a sender must write it (with a date)."""

    promulgation_date: date


class DocumentType(_Model):
    type: int | None = None
    type_detail: int | None = None
    type_name: str | None = None


class SignerInfo(_Model):
    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


class OtherInfo(_Model):
    priority: int | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: list[str] = Field(default_factory=list)


class ResponseFor(_Model):
    """The document a status (or a reply document) answers."""

    organ_id: str | None = None
    code: str | None = None
    promulgation_date: date | None = None
    document_id: str | None = None


class MessageHeader(_Model):
    """Every field of a document's MessageHeader."""

    from_: Organization
    to: list[Organization] = Field(min_length=1)
    document_id: str
    code: Code
    promulgation_info: ReceivedPromulgationInfo
    document_type: DocumentType
    subject: str | None
    """None when empty (a warning says so): the axis only records it."""
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: date | None = None
    other_info: OtherInfo | None = None
    response_for: list[ResponseFor] = Field(default_factory=list)
    steering_type: int | None = None
    to_places: list[str] = Field(default_factory=list)


class ReceivedTraceHeader(_Model):
    """A hop as received: recorded, never routed on, so an odd OrganId is kept as written
    and an unreadable Timestamp is None (each with a warning). Read as a TraceHeader
    whenever the Timestamp could be read."""

    organ_id: str
    timestamp: datetime | None = None


class TraceHeader(ReceivedTraceHeader):
    """One hop the document passed through, as a sender must write it (with a time)."""

    timestamp: datetime


class StaffInfo(_Model):
    department: str | None = None
    staff: str | None = None
    mobile: str | None = None
    email: str | None = None


class Receiver(_Model):
    organ_id: str
    receiver_type: int | None = None


class BusinessDocumentInfo(_Model):
    """For an update: whether the document data and/or its receivers change, and to whom."""

    document_info: int | None = None
    document_receiver: int | None = None
    receivers: list[Receiver] = Field(default_factory=list)


class ReplacementInfo(_Model):
    """For a replacement: the earlier document replaced and the organisations it went to."""

    document_id: str
    organ_ids: list[str] = Field(default_factory=list)


class Business(_Model):
    """The Bussiness block of TraceHeaderList."""

    document_id: str | None = None
    doc_type: BusinessDocType
    doc_reason: str | None = None
    paper: int | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: list[ReplacementInfo] = Field(default_factory=list)
    staff_info: StaffInfo | None = None


class ManifestReference(_Model):
    """One edXMLManifest Reference: names an attachment by ContentId or xlink:href."""

    content_id: str | None = None
    href: str | None = None
    attachment_name: str | None = None
    description: str | None = None
    content_type: str | None = None


class Attachment(_Model):
    """One AttachmentEncoded/Attachment, decoded only to measure and hash it."""

    content_id: str
    attachment_name: str | None = None
    description: str | None = None
    content_type: str | None = None
    size: int = Field(ge=0)
    """Bytes after base64 decoding."""
    sha256: str
    """Hex SHA-256 of the decoded bytes."""


class DocumentEnvelope(_Model):
    """An accepted edXML document envelope."""

    kind: Literal["document"] = "document"
    header: MessageHeader
    trace_headers: list[ReceivedTraceHeader] = Field(default_factory=list)
    business: Business | None = None
    references: list[ManifestReference] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    signature: SignatureForm | None = None
    warnings: list[EnvelopeWarning] = Field(default_factory=list)
    """Deviations in values the axis only records (see schemas.edxml.rules)."""

    @property
    def document_id(self) -> str:
        return self.header.document_id

    @property
    def sender_id(self) -> str:
        return self.header.from_.organ_id

    @property
    def recipient_ids(self) -> list[str]:
        return [to.organ_id for to in self.header.to]


class StatusMessage(_Model):
    """An accepted edXML status message (a header only)."""

    kind: Literal["status"] = "status"
    from_: Organization
    response_for: ResponseFor
    staff_info: StaffInfo | None = None
    status_code: StatusCode
    description: str | None = None
    timestamp: datetime | None
    """None when it could not be read (a warning says so): the axis only records it."""
    signature: SignatureForm | None = None
    warnings: list[EnvelopeWarning] = Field(default_factory=list)

    @property
    def document_id(self) -> str:
        """The DocumentId of the document this status answers (always present)."""
        return self.response_for.document_id or ""

    @property
    def sender_id(self) -> str:
        return self.from_.organ_id
