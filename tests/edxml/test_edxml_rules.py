"""Schema and business rules on tiny hand-written envelopes: one defect per test."""

from __future__ import annotations

import base64
import hashlib
from datetime import date

import pytest
from edxml_template import (
    DEFAULT_BUSINESS,
    DS,
    DS_SIGNATURE,
    NS,
    PAYLOAD,
    PAYLOAD_B64,
    attachment,
    document,
    line_of,
    reference,
    status,
)

from schemas.edxml import (
    ERROR_CODES,
    BusinessDocType,
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    SignatureForm,
    StatusCode,
    StatusMessage,
    parse_envelope,
)
from schemas.edxml.rules import (
    RECORDED_ORGAN_CODE,
    ROUTED_ORGAN_CODE,
    Reading,
    organ_code,
)

LIMITS = EnvelopeLimits()


def parse_document(data: bytes, **kwargs: bool) -> DocumentEnvelope:
    parsed = parse_envelope(data, LIMITS, **kwargs)
    assert isinstance(parsed, DocumentEnvelope)
    return parsed


def parse_status(data: bytes) -> StatusMessage:
    parsed = parse_envelope(data, LIMITS)
    assert isinstance(parsed, StatusMessage)
    return parsed


def warned(parsed: DocumentEnvelope | StatusMessage) -> list[tuple[str, str | None, int | None]]:
    """(code, element, line) of each warning an accepted envelope carries."""
    return [(warning.code, warning.element, warning.line) for warning in parsed.warnings]


def refused(data: bytes, limits: EnvelopeLimits = LIMITS, **kwargs: bool) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, limits, **kwargs)
    assert caught.value.code in ERROR_CODES
    return caught.value


def test_the_template_document_is_valid() -> None:
    doc = parse_document(document())
    assert doc.sender_id == "000.00.00.G22"
    assert doc.recipient_ids == ["000.00.00.H41"]
    assert doc.business is not None and doc.business.doc_type is BusinessDocType.NEW
    [attachment_model] = doc.attachments
    assert attachment_model.size == len(PAYLOAD)
    assert attachment_model.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert doc.signature is None


def test_the_template_status_is_valid() -> None:
    message = parse_status(status())
    assert message.status_code is StatusCode.PROCESSING
    assert message.response_for.document_id == "000.00.00.G22,2024/01/02,12/ABC"


def test_error_codes_are_the_documented_set() -> None:
    assert ERROR_CODES == {
        "too_large",
        "invalid_encoding",
        "not_well_formed",
        "dtd_forbidden",
        "too_deep",
        "too_many_elements",
        "too_many_attributes",
        "schema_invalid",
        "unknown_status_code",
        "bad_organ_code",
        "bad_date",
        "missing_document_id",
        "attachment_mismatch",
        "duplicate_recipient",
        "too_many_attachments",
        "attachment_too_large",
        "bad_base64",
        "bad_number",
        "empty_text",
        "hidden_markup",
    }


def test_envelope_error_carries_its_fields() -> None:
    error = EnvelopeError("bad_date", "nope", line=3, element="DueDate")
    assert error.as_dict() == {
        "code": "bad_date",
        "message": "nope",
        "line": 3,
        "element": "DueDate",
    }
    assert str(error) == "bad_date: nope (element DueDate, line 3)"
    import pickle

    assert pickle.loads(pickle.dumps(error)).as_dict() == error.as_dict()


# --- status codes -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [c.value for c in StatusCode])
def test_every_known_status_code_is_accepted(code: str) -> None:
    assert parse_status(status(code=code)).status_code.value == code


@pytest.mark.parametrize("code", ["07", "12", "14", "99", "5", "", "\uff10\uff15"])
def test_unknown_status_code(code: str) -> None:
    data = status(code=code)
    error = refused(data)
    assert error.code == "unknown_status_code"
    assert (error.element, error.line) == ("StatusCode", line_of(data, "<StatusCode>"))


def test_status_element_spelled_status_is_accepted() -> None:
    assert parse_status(status(code_tag="Status", code="06")).status_code is StatusCode.COMPLETED
    assert refused(status(code_tag="Status", code="77")).element == "Status"


def test_status_codes_have_meanings() -> None:
    assert StatusCode("02").meaning.startswith("refused")
    assert all(code.meaning for code in StatusCode)


def test_status_without_document_id() -> None:
    data = status(document_id=None)
    error = refused(data)
    assert error.code == "missing_document_id"
    assert (error.element, error.line) == ("ResponseFor", line_of(data, "<ResponseFor>"))
    assert refused(status(document_id="  ")).element == "DocumentId"


def test_status_must_name_the_organisation_it_answers() -> None:
    assert refused(status(response_organ="")).code == "bad_organ_code"
    assert refused(status(response_organ="G22")).code == "bad_organ_code"


def test_status_with_a_body_is_not_a_status() -> None:
    data = status(after_header="  <edXMLBody/>")
    error = refused(data)
    assert error.code == "schema_invalid"
    assert (error.element, error.line) == ("edXMLBody", line_of(data, "<edXMLBody/>"))


def test_status_with_a_real_signature() -> None:
    assert parse_status(status(signature=DS_SIGNATURE)).signature is SignatureForm.XMLDSIG


def test_an_unreadable_status_timestamp_is_a_warning() -> None:
    data = status(timestamp="2024-01-03T09:00:00")
    message = parse_status(data)
    assert message.timestamp is None
    assert warned(message) == [("bad_date", "Timestamp", line_of(data, "<Timestamp>"))]
    assert parse_status(status()).warnings == []


# --- organisation codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["000.00.00.G22", "000.00.11.H53", "000.21.36.I03", "777.77.04.D77", "001.02.03.A01"],
)
def test_well_formed_organ_codes(code: str) -> None:
    reading = Reading(legacy_organ_codes=False)
    assert organ_code(code, None, reading, ROUTED_ORGAN_CODE) == code
    assert organ_code(code, None, reading, RECORDED_ORGAN_CODE) == code
    assert reading.warnings == []


@pytest.mark.parametrize(
    "code",
    [
        "",
        "G22",
        "000.00.00.g22",
        "000.00.00.22G",
        "000.00.00.G2",
        "00.00.00.G22",
        "000.00.00.G22.1",
        "000-00-00-G22",
        " 000.00.00 G22",
        "000.05.00.G22",  # a level-3 unit under no level-2 unit
        "001.00.05.G22",  # a level-4 unit under no level-3 unit
        "\u0660\u0660\u0660.00.00.G22",  # non-ASCII digits
    ],
)
def test_bad_organ_codes(code: str) -> None:
    reading = Reading(legacy_organ_codes=True)
    with pytest.raises(EnvelopeError) as caught:
        organ_code(code, None, reading, ROUTED_ORGAN_CODE)
    assert caught.value.code == "bad_organ_code"
    assert organ_code(code, None, reading, RECORDED_ORGAN_CODE) == code.strip()
    assert [warning.code for warning in reading.warnings] == ["bad_organ_code"]


def test_legacy_organ_codes_follow_the_flag() -> None:
    legacy, strict = Reading(legacy_organ_codes=True), Reading(legacy_organ_codes=False)
    assert organ_code("28.22.H17", None, legacy, ROUTED_ORGAN_CODE) == "28.22.H17"
    with pytest.raises(EnvelopeError):
        organ_code("28.22.H17", None, strict, ROUTED_ORGAN_CODE)
    with pytest.raises(EnvelopeError):
        organ_code("05.00.H17", None, legacy, ROUTED_ORGAN_CODE)


def test_bad_organ_code_in_a_document_names_its_line() -> None:
    data = document(to_ids=["000.00.00.H41", "H41"])
    error = refused(data)
    assert error.code == "bad_organ_code"
    assert (error.element, error.line) == ("OrganId", line_of(data, ">H41<"))


def test_legacy_recipient_refused_when_legacy_is_off() -> None:
    data = document(to_ids=["28.22.H17"])
    assert parse_document(data).recipient_ids == ["28.22.H17"]
    error = refused(data, legacy_organ_codes=False)
    assert (error.code, error.line) == ("bad_organ_code", line_of(data, "28.22.H17"))


def test_a_bad_organ_code_in_a_trace_header_is_a_warning() -> None:
    trace = (
        "<TraceHeader><OrganId>XYZ</OrganId>"
        "<Timestamp>2024/01/02 08:00:00</Timestamp></TraceHeader>"
    )
    data = document(trace=trace)
    doc = parse_document(data)
    assert [hop.organ_id for hop in doc.trace_headers] == ["XYZ"]
    assert warned(doc) == [("bad_organ_code", "OrganId", line_of(data, "<OrganId>XYZ"))]


def test_duplicate_recipient() -> None:
    data = document(to_ids=["000.00.00.H41", "000.00.00.H41"])
    error = refused(data)
    assert error.code == "duplicate_recipient"
    assert error.line == line_of(data, "<To>", 2)


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2020/02/30", "2020-01-01", "20200101", "2020/1/2", "x"])
def test_an_unreadable_promulgation_date_is_a_warning(value: str) -> None:
    data = document(promulgation_date=value)
    doc = parse_document(data)
    assert doc.header.promulgation_info.promulgation_date is None
    assert warned(doc) == [("bad_date", "PromulgationDate", line_of(data, "<PromulgationDate>"))]


def test_day_first_dates_are_read_with_a_warning() -> None:
    doc = parse_document(document(promulgation_date="30/10/2020"))
    assert doc.header.promulgation_info.promulgation_date == date(2020, 10, 30)
    assert [(w.code, w.element) for w in doc.warnings] == [("bad_date", "PromulgationDate")]
    assert "dd/MM/yyyy" in doc.warnings[0].message
    wrong = parse_document(document(promulgation_date="31/02/2020"))
    assert wrong.header.promulgation_info.promulgation_date is None
    assert "not a day of the calendar" in wrong.warnings[0].message


def test_a_good_date_carries_no_warning() -> None:
    doc = parse_document(document(header_extra="<DueDate>2024/02/29</DueDate>"))
    assert doc.header.due_date == date(2024, 2, 29)
    assert doc.warnings == []


def test_due_date_may_be_empty_and_a_wrong_one_is_a_warning() -> None:
    assert parse_document(document(header_extra="<DueDate></DueDate>")).header.due_date is None
    data = document(header_extra="<DueDate>2023/02/29</DueDate>")
    doc = parse_document(data)
    assert doc.header.due_date is None
    assert warned(doc) == [("bad_date", "DueDate", line_of(data, "<DueDate>"))]


@pytest.mark.parametrize(
    "value", ["2024/01/02", "2024/01/02 24:00:00", "2024/13/02 08:00:00", "2024/01/02 8:00:00"]
)
def test_an_unreadable_trace_timestamp_is_a_warning(value: str) -> None:
    trace = (
        "<TraceHeader>\n<OrganId>000.00.00.G22</OrganId>\n"
        f"<Timestamp>{value}</Timestamp>\n</TraceHeader>"
    )
    data = document(trace=trace)
    doc = parse_document(data)
    assert [(hop.organ_id, hop.timestamp) for hop in doc.trace_headers] == [("000.00.00.G22", None)]
    assert warned(doc) == [("bad_date", "Timestamp", line_of(data, f"<Timestamp>{value}"))]


# --- document id --------------------------------------------------------------------------


def test_missing_document_id() -> None:
    data = document(document_id=None)
    error = refused(data)
    assert error.code == "missing_document_id"
    assert (error.element, error.line) == ("MessageHeader", line_of(data, "<MessageHeader>"))


def test_empty_document_id() -> None:
    data = document(document_id="   ")
    error = refused(data)
    assert (error.code, error.element) == ("missing_document_id", "DocumentId")


# --- attachments --------------------------------------------------------------------------


def test_attachment_without_reference() -> None:
    data = document(attachments=[attachment("cid:1"), attachment("cid:2", name="b.txt")])
    error = refused(data)
    assert error.code == "attachment_mismatch"
    assert (error.element, error.line) == ("Attachment", line_of(data, "<Attachment>", 2))


def test_reference_without_attachment() -> None:
    data = document(references=[reference("cid:1"), reference("cid:9")])
    error = refused(data)
    assert error.code == "attachment_mismatch"
    assert (error.element, error.line) == ("Reference", line_of(data, "<Reference>", 2))


def test_references_and_no_attachment_container() -> None:
    data = document().replace(
        data_between(document(), "<AttachmentEncoded>", "</AttachmentEncoded>"), b""
    )
    assert refused(data).code == "attachment_mismatch"


def data_between(data: bytes, start: str, end: str) -> bytes:
    first = data.index(start.encode())
    return data[first : data.index(end.encode()) + len(end)]


def test_no_attachments_at_all_is_fine() -> None:
    doc = parse_document(document(references=[], attachments=[]))
    assert doc.attachments == [] and doc.references == []


def test_duplicate_content_ids() -> None:
    data = document(
        references=[reference("cid:1")], attachments=[attachment("cid:1"), attachment("cid:1")]
    )
    assert refused(data).code == "attachment_mismatch"
    data = document(references=[reference("cid:1"), reference("cid:1")])
    assert refused(data).code == "attachment_mismatch"


def test_reference_by_xlink_href_and_cid_prefix_tolerance() -> None:
    by_href = (
        '<Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:7">'
        "<AttachmentName>a.txt</AttachmentName></Reference>"
    )
    doc = parse_document(document(references=[by_href], attachments=[attachment("7")]))
    assert doc.references[0].href == "cid:7" and doc.references[0].content_id is None
    assert doc.attachments[0].content_id == "7"


def test_reference_naming_nothing() -> None:
    data = document(references=["<Reference><AttachmentName>a</AttachmentName></Reference>"])
    assert refused(data).code == "attachment_mismatch"


@pytest.mark.parametrize(
    "content",
    [
        "not base64!",
        "aGVsbG8",  # truncated
        "aGVsbG8=aGVsbG8=",  # data after padding
        "aGVs bG8=\u00e9",
        "${__StringFromFile(test.txt,,,)}",
        "====",
    ],
)
def test_bad_base64(content: str) -> None:
    data = document(attachments=[attachment(content=content)])
    error = refused(data)
    assert error.code == "bad_base64"
    assert (error.element, error.line) == (
        "ContentTransferEncoded",
        line_of(data, "<ContentTransferEncoded>"),
    )


def test_base64_with_line_breaks_is_accepted() -> None:
    payload = bytes(range(256)) * 40
    encoded = base64.encodebytes(payload).decode()  # 76-character lines
    doc = parse_document(document(attachments=[attachment(content=encoded)]))
    assert doc.attachments[0].size == len(payload)
    assert doc.attachments[0].sha256 == hashlib.sha256(payload).hexdigest()


def test_padding_at_a_slice_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.edxml import attachments

    monkeypatch.setattr(attachments, "DECODE_SLICE", 8)
    assert parse_document(document()).attachments[0].size == len(PAYLOAD)
    glued = PAYLOAD_B64 + PAYLOAD_B64
    assert refused(document(attachments=[attachment(content=glued)])).code == "bad_base64"


def test_empty_attachment_content() -> None:
    doc = parse_document(document(attachments=[attachment(content="")]))
    assert doc.attachments[0].size == 0


def test_attachment_too_large() -> None:
    limits = EnvelopeLimits(max_attachment_bytes=len(PAYLOAD) - 1)
    error = refused(document(), limits)
    assert (error.code, error.element) == ("attachment_too_large", "ContentTransferEncoded")
    assert parse_envelope(document(), EnvelopeLimits(max_attachment_bytes=len(PAYLOAD)))


def test_too_many_attachments() -> None:
    data = document(
        references=[reference("cid:1"), reference("cid:2")],
        attachments=[attachment("cid:1"), attachment("cid:2")],
    )
    error = refused(data, EnvelopeLimits(max_attachments=1))
    assert (error.code, error.element) == ("too_many_attachments", "AttachmentEncoded")
    assert len(parse_document(data).attachments) == 2


# --- schema -------------------------------------------------------------------------------


def test_unknown_element_names_its_line_without_namespace_noise() -> None:
    data = document(header_extra="<Surprise>1</Surprise>")
    error = refused(data)
    assert error.code == "schema_invalid"
    assert (error.element, error.line) == ("Surprise", line_of(data, "<Surprise>"))
    assert "{" not in error.message


def test_wrong_root() -> None:
    error = refused(b"<edXML/>")
    assert (error.code, error.element, error.line) == ("schema_invalid", "edXML", 1)
    error = refused(f'<MessageHeader xmlns="{NS}"/>'.encode())
    assert (error.code, error.element) == ("schema_invalid", "MessageHeader")


def test_missing_required_header_field() -> None:
    data = document().replace(b"      <Subject>Test document</Subject>\n", b"")
    error = refused(data)
    assert (error.code, error.element) == ("schema_invalid", "MessageHeader")


def test_repeated_header_field() -> None:
    data = document(header_extra="<Subject>again</Subject>")
    error = refused(data)
    assert (error.code, error.line) == ("schema_invalid", line_of(data, "<Subject>again"))


def test_an_empty_subject_is_a_warning() -> None:
    doc = parse_document(document(subject=" "))
    assert doc.header.subject is None
    assert [(w.code, w.element) for w in doc.warnings] == [("empty_text", "Subject")]


def test_business_doc_type_outside_zero_to_three() -> None:
    data = document(
        business=DEFAULT_BUSINESS.replace(">0</BussinessDocType>", ">4</BussinessDocType>")
    )
    error = refused(data)
    assert (error.code, error.element) == ("schema_invalid", "BussinessDocType")


@pytest.mark.parametrize("kind", list(BusinessDocType))
def test_business_doc_types(kind: BusinessDocType) -> None:
    block = DEFAULT_BUSINESS.replace(">0</BussinessDocType>", f">{kind.value}</BussinessDocType>")
    doc = parse_document(document(business=block))
    assert doc.business is not None and doc.business.doc_type is kind


def test_business_spelled_correctly_is_accepted() -> None:
    block = DEFAULT_BUSINESS.replace("Bussiness", "Business")
    doc = parse_document(document(business=block))
    assert doc.business is not None
    assert doc.business.doc_type is BusinessDocType.NEW and doc.business.doc_reason == "new"


def test_business_block_is_optional_and_at_most_once() -> None:
    assert parse_document(document(business="")).business is None
    data = document(business=DEFAULT_BUSINESS + "\n" + DEFAULT_BUSINESS)
    error = refused(data)
    assert (error.code, error.line) == ("schema_invalid", line_of(data, "<Bussiness>", 2))


def test_replacement_info() -> None:
    block = DEFAULT_BUSINESS.replace(
        ">0</BussinessDocType>",
        ">3</BussinessDocType>\n<ReplacementInfoList><ReplacementInfo>"
        "<DocumentId>000.00.00.G22,2023/01/01,1/X</DocumentId>"
        "<OrganIdList><OrganId>000.00.00.H41</OrganId></OrganIdList>"
        "</ReplacementInfo></ReplacementInfoList>",
    )
    doc = parse_document(document(business=block))
    assert doc.business is not None and doc.business.doc_type is BusinessDocType.REPLACE
    [replacement] = doc.business.replacements
    assert replacement.organ_ids == ["000.00.00.H41"]


def test_signatures_in_either_namespace() -> None:
    doc = parse_document(document(signature=DS_SIGNATURE))
    assert doc.signature is SignatureForm.XMLDSIG
    edxml_signature = "<Signature><SignedInfo/><SignatureValue>AA==</SignatureValue></Signature>"
    assert parse_document(document(signature=edxml_signature)).signature is (
        SignatureForm.EDXML_NAMESPACE
    )


def test_only_ds_signature_from_xmldsig_is_accepted() -> None:
    data = document(signature=f'<ds:Object xmlns:ds="{DS}"/>')
    error = refused(data)
    assert (error.code, error.element) == ("schema_invalid", "Object")


def test_a_second_signature_is_refused() -> None:
    assert refused(document(signature=DS_SIGNATURE + "\n" + DS_SIGNATURE)).code == "schema_invalid"


def test_prefixes_do_not_matter() -> None:
    plain = document()
    prefixed = (
        plain.replace(b"<", b"<q:")
        .replace(b"<q:/", b"</q:")
        .replace(b"<q:?xml", b"<?xml")
        .replace(b'xmlns="', b'xmlns:q="')
    )
    assert b"<q:edXML" in prefixed
    assert parse_envelope(prefixed, LIMITS) == parse_envelope(plain, LIMITS)
    wrong_namespace = plain.replace(NS.encode(), b"http://example.invalid/edxml")
    assert refused(wrong_namespace).code == "schema_invalid"
