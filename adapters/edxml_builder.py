"""Build edXML (QCVN 102:2016) documents and status messages from Python values.

Why here: an agency's DMS holds its documents as data, not XML. It describes a document
with the same models the axis parses into (`schemas.edxml.models`), so what it builds is, field
for field, what every recipient reads back. The layout copies real agency files: root
`edXML` with the default namespace, `edXML:`-prefixed envelope, `AttachmentEncoded` beside
the envelope. Building is unsigned; sign the bytes with `signing.xmldsig.sign_envelope`.
Build once and keep the bytes: a rebuilt document carries a new TraceHeader time (and a new
signature), and the axis refuses other bytes under a DocumentId it already accepted (409).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.edxml import (
    BusinessDocType,
    EnvelopeLimits,
    StatusCode,
    parse_envelope,
)
from schemas.edxml.models import (
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    TraceHeader,
)
from schemas.edxml.names import EDXML_NS
from schemas.edxml.rules import VIETNAM_TIME
from signing.xmlparse import etree

__all__ = [
    "AttachmentFile",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "Code",
    "DocumentType",
    "Organization",
    "OtherInfo",
    "OutgoingDocument",
    "OutgoingStatus",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "TraceHeader",
    "build_document",
    "build_status",
    "content_id",
    "format_date",
    "format_timestamp",
]

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttachmentFile(_Model):
    """One file to attach: its bytes travel base64-encoded in AttachmentEncoded."""

    name: str = Field(min_length=1)
    content_type: str = Field(default="application/octet-stream", min_length=1)
    data: bytes
    description: str | None = None


class OutgoingDocument(_Model):
    """A document as a DMS describes it; `build_document` turns it into edXML."""

    sender: Organization
    recipients: list[Organization] = Field(min_length=1)
    document_id: str = Field(min_length=1)
    code: Code
    promulgation: PromulgationInfo
    document_type: DocumentType
    subject: str = Field(min_length=1)
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: date | None = None
    other_info: OtherInfo | None = None
    response_for: list[ResponseFor] = Field(default_factory=list)
    steering_type: int | None = None
    to_places: list[str] = Field(default_factory=list)
    business: Business = Business(doc_type=BusinessDocType.NEW)
    """0 new, 1 revoke, 2 update, 3 replace; for 1-3 `business.document_id` names the
    document changed."""
    earlier_hops: list[TraceHeader] = Field(default_factory=list)
    """TraceHeaders already on a forwarded document; the builder appends the sender's own."""
    attachments: list[AttachmentFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _business_names_its_target(self) -> OutgoingDocument:
        if self.business.doc_type is not BusinessDocType.NEW and not self.business.document_id:
            raise ValueError(
                f"a {self.business.doc_type.name.lower()} (BussinessDocType "
                f"{self.business.doc_type.value}) must name the DocumentId it changes"
            )
        return self


class OutgoingStatus(_Model):
    """A status message about a document (01 arrived ... 16 recall/update refused)."""

    sender: Organization
    response_for: ResponseFor
    status_code: StatusCode
    staff_info: StaffInfo | None = None
    description: str | None = None
    timestamp: datetime | None = None
    """When the status was set (timezone-aware); None: the time of building."""

    @model_validator(mode="after")
    def _names_the_document(self) -> OutgoingStatus:
        if not self.response_for.document_id or not self.response_for.organ_id:
            raise ValueError("ResponseFor must name the document's OrganId and DocumentId")
        return self


def format_date(value: date) -> str:
    """yyyy/MM/dd, as edXML writes dates."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(moment: datetime) -> str:
    """yyyy/MM/dd HH:mm:ss in Vietnam time: edXML timestamps carry no zone, agencies read
    them as UTC+7. A naive datetime is refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError("edXML timestamps need a timezone-aware datetime")
    local = moment.astimezone(VIETNAM_TIME)
    return f"{format_date(local.date())} {local:%H:%M:%S}"


def content_id(index: int) -> str:
    """The ContentId of the index-th attachment (from 1): `cid:1`, `cid:2`, ..."""
    return f"cid:{index}"


def _q(local: str) -> str:
    return f"{{{EDXML_NS}}}{local}"


def _add(parent: Any, local: str, text: str | None = None) -> Any:
    element = etree.SubElement(parent, _q(local))
    if text is not None:
        element.text = text
    return element


def _optional(parent: Any, local: str, value: str | int | None) -> None:
    if value is not None:
        _add(parent, local, str(value))


def _organization(parent: Any, local: str, organization: Organization) -> None:
    element = _add(parent, local)
    _add(element, "OrganId", organization.organ_id)
    _optional(element, "OrganizationInCharge", organization.organization_in_charge)
    _add(element, "OrganName", organization.organ_name or "")
    _optional(element, "OrganAdd", organization.organ_add)
    _optional(element, "Email", organization.email)
    _optional(element, "Telephone", organization.telephone)
    _optional(element, "Fax", organization.fax)
    _optional(element, "Website", organization.website)


def _staff_info(parent: Any, staff: StaffInfo | None) -> None:
    if staff is None:
        return
    element = _add(parent, "StaffInfo")
    _optional(element, "Department", staff.department)
    _optional(element, "Staff", staff.staff)
    _optional(element, "Mobile", staff.mobile)
    _optional(element, "Email", staff.email)


def _response_for(parent: Any, response: ResponseFor) -> None:
    element = _add(parent, "ResponseFor")
    _optional(element, "OrganId", response.organ_id)
    _optional(element, "Code", response.code)
    if response.promulgation_date is not None:
        _add(element, "PromulgationDate", format_date(response.promulgation_date))
    _optional(element, "DocumentId", response.document_id)


def _other_info(parent: Any, other: OtherInfo) -> None:
    element = _add(parent, "OtherInfo")
    _optional(element, "Priority", other.priority)
    _optional(element, "SphereOfPromulgation", other.sphere_of_promulgation)
    _optional(element, "TyperNotation", other.typer_notation)
    _optional(element, "PromulgationAmount", other.promulgation_amount)
    _optional(element, "PageAmount", other.page_amount)
    if other.direction is not None:
        _add(element, "Direction", "true" if other.direction else "false")
    if other.appendixes:
        appendixes = _add(element, "Appendixes")
        for appendix in other.appendixes:
            _add(appendixes, "Appendix", appendix)


def _message_header(parent: Any, document: OutgoingDocument) -> None:
    header = _add(parent, "MessageHeader")
    _organization(header, "From", document.sender)
    for recipient in document.recipients:
        _organization(header, "To", recipient)
    _add(header, "DocumentId", document.document_id)
    code = _add(header, "Code")
    _add(code, "CodeNumber", document.code.code_number or "")
    _add(code, "CodeNotation", document.code.code_notation or "")
    promulgation = _add(header, "PromulgationInfo")
    _add(promulgation, "Place", document.promulgation.place or "")
    _add(
        promulgation,
        "PromulgationDate",
        format_date(document.promulgation.promulgation_date),
    )
    kind = _add(header, "DocumentType")
    # Type is required but real files leave it blank when unknown.
    _add(
        kind,
        "Type",
        "" if document.document_type.type is None else str(document.document_type.type),
    )
    _optional(kind, "TypeDetail", document.document_type.type_detail)
    _add(kind, "TypeName", document.document_type.type_name or "")
    _add(header, "Subject", document.subject)
    _optional(header, "Content", document.content)
    if document.signer_info is not None:
        signer = _add(header, "SignerInfo")
        _optional(signer, "Competence", document.signer_info.competence)
        _optional(signer, "Position", document.signer_info.position)
        _optional(signer, "FullName", document.signer_info.full_name)
    if document.due_date is not None:
        _add(header, "DueDate", format_date(document.due_date))
    if document.other_info is not None:
        _other_info(header, document.other_info)
    for response in document.response_for:
        _response_for(header, response)
    _optional(header, "SteeringType", document.steering_type)
    if document.to_places:
        places = _add(header, "ToPlaces")
        for place in document.to_places:
            _add(places, "Place", place)


def _business(parent: Any, business: Business) -> None:
    element = _add(parent, "Bussiness")
    _optional(element, "DocumentId", business.document_id)
    _add(element, "BussinessDocType", str(business.doc_type.value))
    _optional(element, "BussinessDocReason", business.doc_reason)
    _optional(element, "Paper", business.paper)
    info = business.document_info
    if info is not None:
        info_element = _add(element, "BussinessDocumentInfo")
        _optional(info_element, "DocumentInfo", info.document_info)
        _optional(info_element, "DocumentReceiver", info.document_receiver)
        if info.receivers:
            receivers = _add(info_element, "ReceiverList")
            for receiver in info.receivers:
                receiver_element = _add(receivers, "Receiver")
                _add(receiver_element, "OrganId", receiver.organ_id)
                _optional(receiver_element, "ReceiverType", receiver.receiver_type)
    if business.replacements:
        replacements = _add(element, "ReplacementInfoList")
        for replacement in business.replacements:
            replacement_element = _add(replacements, "ReplacementInfo")
            _add(replacement_element, "DocumentId", replacement.document_id)
            if replacement.organ_ids:
                organs = _add(replacement_element, "OrganIdList")
                for organ_id in replacement.organ_ids:
                    _add(organs, "OrganId", organ_id)
    _staff_info(element, business.staff_info)


def _trace_header(parent: Any, hop: TraceHeader) -> None:
    element = _add(parent, "TraceHeader")
    _add(element, "OrganId", hop.organ_id)
    _add(element, "Timestamp", format_timestamp(hop.timestamp))


def _attachments(root: Any, body: Any, files: Sequence[AttachmentFile]) -> None:
    manifest = _add(body, "edXMLManifest")
    manifest.set("version", "1.0")
    if not files:
        return
    container = _add(root, "AttachmentEncoded")
    for index, file in enumerate(files, start=1):
        reference = _add(manifest, "Reference")
        _add(reference, "ContentId", content_id(index))
        _add(reference, "ContentType", file.content_type)
        _optional(reference, "Description", file.description)
        _add(reference, "AttachmentName", file.name)
        attachment = _add(container, "Attachment")
        _add(attachment, "ContentId", content_id(index))
        _add(attachment, "AttachmentName", file.name)
        _optional(attachment, "Description", file.description)
        _add(attachment, "ContentType", file.content_type)
        encoded = etree.SubElement(
            attachment, _q("ContentTransferEncoded"), nsmap={"edXML": EDXML_NS}
        )
        encoded.text = base64.b64encode(file.data).decode("ascii")


def _envelope(root: Any) -> Any:
    """The envelope element, which declares the `edXML:` prefix as real files do."""
    return etree.SubElement(root, _q("edXMLEnvelope"), nsmap={"edXML": EDXML_NS})


def _serialise(root: Any) -> bytes:
    etree.indent(root, space="  ")
    return _DECLARATION + bytes(etree.tostring(root, encoding="UTF-8")) + b"\n"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def build_document(
    document: OutgoingDocument,
    *,
    now: datetime | None = None,
    check: bool = True,
    limits: EnvelopeLimits | None = None,
) -> bytes:
    """The unsigned edXML bytes of `document`, with a TraceHeader (sender, `now`).

    With `check` the bytes are parsed back with the axis's own parser and `limits` (the
    axis's defaults unless given), so a value the axis would refuse (a malformed
    organisation code, a duplicate recipient, an oversized attachment...) raises
    `EnvelopeError` here, naming the element, instead of a 422 later.
    """
    root = etree.Element(_q("edXML"), nsmap={None: EDXML_NS})
    envelope = _envelope(root)
    header = _add(envelope, "edXMLHeader")
    _message_header(header, document)
    traces = _add(header, "TraceHeaderList")
    for hop in document.earlier_hops:
        _trace_header(traces, hop)
    _trace_header(traces, TraceHeader(organ_id=document.sender.organ_id, timestamp=now or _now()))
    _business(traces, document.business)
    body = _add(envelope, "edXMLBody")
    _attachments(root, body, document.attachments)
    data = _serialise(root)
    if check:
        parse_envelope(data, limits or EnvelopeLimits())
    return data


def build_status(
    status: OutgoingStatus,
    *,
    now: datetime | None = None,
    check: bool = True,
) -> bytes:
    """The unsigned edXML bytes of a status message (a header only, no TraceHeaderList).

    Its Timestamp is `status.timestamp`, else `now`, else the current time; `check` as for
    `build_document`.
    """
    root = etree.Element(_q("edXML"), nsmap={None: EDXML_NS})
    header = _add(_add_envelope_header(root), "MessageHeader")
    _organization(header, "From", status.sender)
    _response_for(header, status.response_for)
    _staff_info(header, status.staff_info)
    _add(header, "StatusCode", status.status_code.value)
    _optional(header, "Description", status.description)
    _add(header, "Timestamp", format_timestamp(status.timestamp or now or _now()))
    data = _serialise(root)
    if check:
        parse_envelope(data, EnvelopeLimits())
    return data


def _add_envelope_header(root: Any) -> Any:
    return _add(_envelope(root), "edXMLHeader")
