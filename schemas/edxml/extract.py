"""Build the typed models from a tree that already passed the XSD.

Why separate from validation: the schema says what may stand where; this module reads the
values, applies the rules that give each problem its own code (rules.py), and enforces the
cardinalities XSD 1.0 cannot express inside an any-order MessageHeader. Elements are found
by namespace URI and local name, never by prefix.
"""

from __future__ import annotations

from typing import Any

from schemas.edxml import rules
from schemas.edxml.attachments import digest_base64
from schemas.edxml.errors import EnvelopeError
from schemas.edxml.limits import EnvelopeLimits
from schemas.edxml.models import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentEnvelope,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ReceivedPromulgationInfo,
    ReceivedTraceHeader,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignatureForm,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
)
from schemas.edxml.names import (
    BUSINESS_NAMES,
    EDXML_NS,
    STATUS_CODE_NAMES,
    XLINK_NS,
    XMLDSIG_NS,
    is_edxml,
    local_name,
)
from schemas.edxml.rules import Reading

_HEADER_AT_MOST_ONCE = (
    "DocumentId",
    "Code",
    "PromulgationInfo",
    "DocumentType",
    "Subject",
    "Content",
    "SignerInfo",
    "DueDate",
    "OtherInfo",
    "SteeringType",
    "ToPlaces",
)
_HEADER_REQUIRED = ("Code", "PromulgationInfo", "DocumentType", "Subject")
_EDXML_PREFIX = "{" + EDXML_NS + "}"


class _Children:
    """The edXML-namespace child elements of one element, by local name, in order."""

    def __init__(self, element: Any) -> None:
        self.element = element
        self.by_name: dict[str, list[Any]] = {}
        for child in element:
            tag = child.tag
            if isinstance(tag, str) and tag.startswith(_EDXML_PREFIX):
                self.by_name.setdefault(tag[len(_EDXML_PREFIX) :], []).append(child)

    def all(self, *names: str) -> list[Any]:
        found = [child for name in names for child in self.by_name.get(name, [])]
        if len(names) > 1:
            found.sort(key=lambda child: child.getparent().index(child))
        return found

    def one(self, *names: str) -> Any | None:
        found = self.all(*names)
        return found[0] if found else None

    def text(self, *names: str) -> str | None:
        element = self.one(*names)
        return None if element is None else _text(element)


def _raw_text(element: Any) -> str:
    """All character data directly inside a value element; one with a comment or processing
    instruction inside is refused (every value the axis reads comes through here)."""
    rules.no_hidden_markup(element)
    parts = [element.text or ""]
    parts.extend(child.tail or "" for child in element)
    return "".join(parts)


def _text(element: Any) -> str | None:
    value = _raw_text(element).strip()
    return value or None


def _integer(element: Any | None, reading: Reading) -> int | None:
    if element is None:
        return None
    return rules.recorded_integer(_text(element), element, reading)


def _boolean(element: Any | None, reading: Reading) -> bool | None:
    if element is None:
        return None
    return rules.recorded_boolean(_text(element), element, reading)


def _texts(element: Any | None, name: str) -> list[str]:
    if element is None:
        return []
    values = (_text(child) for child in _Children(element).all(name))
    return [value for value in values if value]


def _required(children: _Children, name: str) -> Any:
    element = children.one(name)
    if element is None:
        raise EnvelopeError.at(
            children.element, "schema_invalid", f"{local_name(children.element)} has no {name}"
        )
    return element


def _organization(element: Any, reading: Reading) -> Organization:
    """From, To, or a status's sender: the axis routes on these codes, so a bad one refuses."""
    children = _Children(element)
    organ_id = _required(children, "OrganId")
    return Organization(
        organ_id=rules.organ_code(_text(organ_id), organ_id, reading, rules.ROUTED_ORGAN_CODE),
        organ_name=children.text("OrganName"),
        organization_in_charge=children.text("OrganizationInCharge"),
        organ_add=children.text("OrganAdd"),
        email=children.text("Email"),
        telephone=children.text("Telephone"),
        fax=children.text("Fax"),
        website=children.text("Website"),
    )


def _staff_info(element: Any | None) -> StaffInfo | None:
    if element is None:
        return None
    children = _Children(element)
    return StaffInfo(
        department=children.text("Department"),
        staff=children.text("Staff"),
        mobile=children.text("Mobile"),
        email=children.text("Email"),
    )


def _is_empty(element: Any) -> bool:
    """Whether every child of the element is empty (some software writes a blank ResponseFor)."""
    return all(_text(child) is None for child in element if isinstance(child.tag, str))


def _response_for(element: Any, reading: Reading, *, for_status: bool) -> ResponseFor:
    """A ResponseFor; a status's must name the organisation and the DocumentId answered
    (a document's is recorded only)."""
    children = _Children(element)
    organ_element = children.one("OrganId")
    organ_id = children.text("OrganId")
    date_element = children.one("PromulgationDate")
    id_element = children.one("DocumentId")
    document_id = children.text("DocumentId")
    if for_status:
        document_id = rules.document_id(document_id, id_element, parent=element)
        if organ_id is None:
            raise EnvelopeError.at(
                organ_element if organ_element is not None else element,
                "bad_organ_code",
                "ResponseFor must name an organisation (OrganId): the document's sender, "
                "or for a recall (13) the recipient asked",
            )
    if organ_id is not None:
        rule = rules.ANSWERED_ORGAN_CODE if for_status else rules.RECORDED_ORGAN_CODE
        organ_id = rules.organ_code(organ_id, organ_element, reading, rule)
    return ResponseFor(
        organ_id=organ_id,
        code=children.text("Code"),
        promulgation_date=None
        if date_element is None
        else rules.descriptive_date(_text(date_element), date_element, reading),
        document_id=document_id,
    )


def _signature(header: Any) -> SignatureForm | None:
    """Which Signature the edXMLHeader holds (the XSD allows at most one)."""
    for child in header:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == "{" + XMLDSIG_NS + "}Signature":
            return SignatureForm.XMLDSIG
        if tag.startswith("{" + XMLDSIG_NS + "}"):
            raise EnvelopeError.at(
                child,
                "schema_invalid",
                f"only ds:Signature may stand in edXMLHeader, not ds:{local_name(child)}",
            )
        if tag == _EDXML_PREFIX + "Signature":
            return SignatureForm.EDXML_NAMESPACE
    return None


def _message_header(element: Any, reading: Reading) -> MessageHeader:
    children = _Children(element)
    for name in _HEADER_AT_MOST_ONCE:
        repeated = children.all(name)
        if len(repeated) > 1:
            raise EnvelopeError.at(
                repeated[1], "schema_invalid", f"MessageHeader holds {name} more than once"
            )
    for name in _HEADER_REQUIRED:
        _required(children, name)
    sender = _organization(children.one("From"), reading)
    to_elements = children.all("To")
    recipients = [_organization(to, reading) for to in to_elements]
    rules.distinct_recipients([to.organ_id for to in recipients], to_elements)

    id_element = children.one("DocumentId")
    document_id = rules.document_id(
        None if id_element is None else _text(id_element), id_element, parent=element
    )
    code = _Children(children.one("Code"))
    promulgation = _Children(children.one("PromulgationInfo"))
    date_element = promulgation.one("PromulgationDate")
    document_type = _Children(children.one("DocumentType"))
    subject_element = children.one("Subject")
    subject = rules.free_text(_text(subject_element), subject_element, reading)
    signer = children.one("SignerInfo")
    due = children.one("DueDate")
    other = children.one("OtherInfo")
    responses = [
        _response_for(response, reading, for_status=False)
        for response in children.all("ResponseFor")
        if not _is_empty(response)
    ]
    return MessageHeader(
        from_=sender,
        to=recipients,
        document_id=document_id,
        code=Code(code_number=code.text("CodeNumber"), code_notation=code.text("CodeNotation")),
        promulgation_info=_promulgation(promulgation, date_element, reading),
        document_type=DocumentType(
            type=_integer(document_type.one("Type"), reading),
            type_detail=_integer(document_type.one("TypeDetail"), reading),
            type_name=document_type.text("TypeName"),
        ),
        subject=subject,
        content=children.text("Content"),
        signer_info=None if signer is None else _signer_info(signer),
        due_date=None if due is None else rules.descriptive_date(_text(due), due, reading),
        other_info=None if other is None else _other_info(other, reading),
        response_for=responses,
        steering_type=_integer(children.one("SteeringType"), reading),
        to_places=_texts(children.one("ToPlaces"), "Place"),
    )


def _promulgation(
    promulgation: _Children, date_element: Any, reading: Reading
) -> ReceivedPromulgationInfo:
    place = promulgation.text("Place")
    day = rules.descriptive_date(_text(date_element), date_element, reading)
    if day is None:
        return ReceivedPromulgationInfo(place=place)
    return PromulgationInfo(place=place, promulgation_date=day)


def _signer_info(element: Any) -> SignerInfo:
    children = _Children(element)
    return SignerInfo(
        competence=children.text("Competence"),
        position=children.text("Position"),
        full_name=children.text("FullName"),
    )


def _other_info(element: Any, reading: Reading) -> OtherInfo:
    children = _Children(element)
    return OtherInfo(
        priority=_integer(children.one("Priority"), reading),
        sphere_of_promulgation=children.text("SphereOfPromulgation"),
        typer_notation=children.text("TyperNotation"),
        promulgation_amount=_integer(children.one("PromulgationAmount"), reading),
        page_amount=_integer(children.one("PageAmount"), reading),
        direction=_boolean(children.one("Direction"), reading),
        appendixes=_texts(children.one("Appendixes"), "Appendix"),
    )


def _trace_header_list(
    element: Any, reading: Reading
) -> tuple[list[ReceivedTraceHeader], Business | None]:
    traces: list[ReceivedTraceHeader] = []
    blocks: list[Any] = []
    for child in element:
        if is_edxml(child, "TraceHeader"):
            children = _Children(child)
            organ_id = _required(children, "OrganId")
            timestamp = _required(children, "Timestamp")
            code = rules.organ_code(_text(organ_id), organ_id, reading, rules.RECORDED_ORGAN_CODE)
            moment = rules.descriptive_timestamp(_text(timestamp), timestamp, reading)
            traces.append(
                ReceivedTraceHeader(organ_id=code)
                if moment is None
                else TraceHeader(organ_id=code, timestamp=moment)
            )
        elif is_edxml(child, *BUSINESS_NAMES):
            blocks.append(child)
    if len(blocks) > 1:
        raise EnvelopeError.at(
            blocks[1], "schema_invalid", "TraceHeaderList holds more than one Bussiness"
        )
    return traces, (_business(blocks[0], reading) if blocks else None)


def _business(element: Any, reading: Reading) -> Business:
    children = _Children(element)
    type_element = children.one("BussinessDocType", "BusinessDocType")
    if type_element is None:
        raise EnvelopeError.at(element, "schema_invalid", "Bussiness has no BussinessDocType")
    number = _integer(type_element, reading)  # the XSD allows only 0..3 here
    try:
        doc_type = BusinessDocType(-1 if number is None else number)
    except ValueError:
        raise EnvelopeError.at(
            type_element,
            "schema_invalid",
            f"BussinessDocType {number!r} is not 0 (new), 1 (revoke), 2 (update) or 3 (replace)",
        ) from None
    info = children.one("BussinessDocumentInfo", "BusinessDocumentInfo")
    replacements = children.one("ReplacementInfoList")
    return Business(
        document_id=children.text("DocumentId"),
        doc_type=doc_type,
        doc_reason=children.text("BussinessDocReason", "BusinessDocReason"),
        paper=_integer(children.one("Paper"), reading),
        document_info=None if info is None else _document_info(info, reading),
        replacements=[]
        if replacements is None
        else [
            _replacement(item, reading) for item in _Children(replacements).all("ReplacementInfo")
        ],
        staff_info=_staff_info(children.one("StaffInfo")),
    )


def _document_info(element: Any, reading: Reading) -> BusinessDocumentInfo:
    children = _Children(element)
    receiver_list = children.one("ReceiverList")
    receivers = [] if receiver_list is None else _Children(receiver_list).all("Receiver")
    return BusinessDocumentInfo(
        document_info=_integer(children.one("DocumentInfo"), reading),
        document_receiver=_integer(children.one("DocumentReceiver"), reading),
        receivers=[_receiver(receiver, reading) for receiver in receivers],
    )


def _receiver(element: Any, reading: Reading) -> Receiver:
    children = _Children(element)
    organ_id = _required(children, "OrganId")
    return Receiver(
        organ_id=rules.organ_code(_text(organ_id), organ_id, reading, rules.RECORDED_ORGAN_CODE),
        receiver_type=_integer(children.one("ReceiverType"), reading),
    )


def _replacement(element: Any, reading: Reading) -> ReplacementInfo:
    children = _Children(element)
    id_element = children.one("DocumentId")
    organ_list = children.one("OrganIdList")
    organ_ids = [] if organ_list is None else _Children(organ_list).all("OrganId")
    return ReplacementInfo(
        document_id=rules.document_id(
            None if id_element is None else _text(id_element), id_element, parent=element
        ),
        organ_ids=[
            rules.organ_code(_text(item), item, reading, rules.RECORDED_ORGAN_CODE)
            for item in organ_ids
        ],
    )


def _references(body: Any | None) -> list[tuple[ManifestReference, str | None, Any]]:
    manifest = None if body is None else _Children(body).one("edXMLManifest")
    if manifest is None:
        return []
    found = []
    for element in _Children(manifest).all("Reference"):
        children = _Children(element)
        href = element.get("{" + XLINK_NS + "}href")
        reference = ManifestReference(
            content_id=children.text("ContentId"),
            href=href.strip() or None if href is not None else None,
            attachment_name=children.text("AttachmentName"),
            description=children.text("Description"),
            content_type=children.text("ContentType"),
        )
        found.append((reference, reference.content_id or reference.href, element))
    return found


def document_from_tree(root: Any, limits: EnvelopeLimits, *, legacy: bool) -> DocumentEnvelope:
    """The document envelope in `root` (already valid against the document XSD)."""
    reading = Reading(legacy_organ_codes=legacy)
    top = _Children(root)
    envelope = _Children(top.one("edXMLEnvelope"))
    header_element = envelope.one("edXMLHeader")
    header = _Children(header_element)
    message_header = _message_header(header.one("MessageHeader"), reading)
    traces, business = _trace_header_list(header.one("TraceHeaderList"), reading)
    signature = _signature(header_element)
    references = _references(envelope.one("edXMLBody"))

    container = top.one("AttachmentEncoded")
    elements = [] if container is None else _Children(container).all("Attachment")
    rules.attachment_count(len(elements), root if container is None else container, limits)
    identified = [(_Children(element), element) for element in elements]
    rules.references_resolve(
        [(identifier, element) for _, identifier, element in references],
        [(children.text("ContentId") or "", element) for children, element in identified],
    )
    attachments = []
    for children, _ in identified:
        content = _required(children, "ContentTransferEncoded")
        digest = digest_base64(_raw_text(content), content, max_bytes=limits.max_attachment_bytes)
        attachments.append(
            Attachment(
                content_id=children.text("ContentId") or "",
                attachment_name=children.text("AttachmentName"),
                description=children.text("Description"),
                content_type=children.text("ContentType"),
                size=digest.size,
                sha256=digest.sha256,
            )
        )
    return DocumentEnvelope(
        header=message_header,
        trace_headers=traces,
        business=business,
        references=[reference for reference, _, _ in references],
        attachments=attachments,
        signature=signature,
        warnings=reading.warnings,
    )


def status_from_tree(root: Any, *, legacy: bool) -> StatusMessage:
    """The status message in `root` (already valid against the status XSD)."""
    reading = Reading(legacy_organ_codes=legacy)
    envelope = _Children(_Children(root).one("edXMLEnvelope"))
    header_element = envelope.one("edXMLHeader")
    message = _Children(_Children(header_element).one("MessageHeader"))
    sender = _organization(_required(message, "From"), reading)
    response = _response_for(_required(message, "ResponseFor"), reading, for_status=True)
    code_element = message.one(*STATUS_CODE_NAMES)
    if code_element is None:
        raise EnvelopeError.at(message.element, "schema_invalid", "MessageHeader has no StatusCode")
    timestamp = _required(message, "Timestamp")
    return StatusMessage(
        from_=sender,
        response_for=response,
        staff_info=_staff_info(message.one("StaffInfo")),
        status_code=rules.status_code(_text(code_element), code_element),
        description=message.text("Description"),
        timestamp=rules.descriptive_timestamp(_text(timestamp), timestamp, reading),
        signature=_signature(header_element),
        warnings=reading.warnings,
    )
