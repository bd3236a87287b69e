"""The builder's output parses with the axis's own parser into exactly what was built, keeps
the layout real agency files have, and signs and verifies with both key types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from adapters_support import (
    NOW,
    RECIPIENTS,
    SENDER,
    Keys,
    assert_document_matches,
    assert_status_matches,
    full_document,
    minimal_document,
    organization,
    status,
)
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from adapters.edxml_builder import (
    Business,
    BusinessDocType,
    OutgoingStatus,
    ResponseFor,
    StatusCode,
    build_document,
    build_status,
    format_timestamp,
)
from schemas.edxml import (
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    SignatureForm,
    envelope_from_tree,
    parse_envelope,
)
from signing.certificates import RegisteredCertificate
from signing.xmldsig import sign_envelope, verify_envelope

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
LIMITS = EnvelopeLimits()


@pytest.mark.parametrize("attachment_count", [0, 1, 3])
@pytest.mark.parametrize("recipients", [1, 3])
def test_document_round_trip(attachment_count: int, recipients: int) -> None:
    document = full_document(recipients=recipients, attachment_count=attachment_count)
    parsed = parse_envelope(build_document(document, now=NOW), LIMITS)
    assert_document_matches(parsed, document, NOW)


@pytest.mark.parametrize("business", list(BusinessDocType))
def test_each_business_type(business: BusinessDocType) -> None:
    document = full_document(business=business)
    parsed = parse_envelope(build_document(document, now=NOW), LIMITS)
    assert_document_matches(parsed, document, NOW)
    assert isinstance(parsed, DocumentEnvelope) and parsed.business is not None
    assert parsed.business.doc_type is business


def test_minimal_document_round_trip() -> None:
    document = minimal_document()
    parsed = parse_envelope(build_document(document, now=NOW), LIMITS)
    assert_document_matches(parsed, document, NOW)


@pytest.mark.parametrize("code", list(StatusCode))
def test_status_round_trip(code: StatusCode) -> None:
    sent = status(code)
    assert_status_matches(parse_envelope(build_status(sent), LIMITS), sent)


def test_minimal_status_takes_the_time_of_building() -> None:
    sent = OutgoingStatus(
        sender=organization(RECIPIENTS[0]),
        response_for=ResponseFor(organ_id=SENDER, document_id="000.00.00.G22,2024/03/05,1/VPCP"),
        status_code=StatusCode.REFUSED,
    )
    parsed = parse_envelope(build_status(sent, now=NOW), LIMITS)
    assert_status_matches(parsed, sent.model_copy(update={"timestamp": NOW}))


def test_layout_is_that_of_real_files() -> None:
    data = build_document(full_document(attachment_count=1), now=NOW)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="' + NS.encode())
    root = etree.fromstring(data)
    assert root.tag == f"{{{NS}}}edXML" and root.prefix is None
    envelope, attachments = list(root)
    assert envelope.prefix == "edXML" and envelope.tag == f"{{{NS}}}edXMLEnvelope"
    header, body = list(envelope)
    assert [etree.QName(c).localname for c in header] == ["MessageHeader", "TraceHeaderList"]
    assert [etree.QName(c).localname for c in body] == ["edXMLManifest"]
    assert attachments.prefix is None and etree.QName(attachments).localname == "AttachmentEncoded"
    trace = header.find(f"{{{NS}}}TraceHeaderList")
    assert [etree.QName(c).localname for c in trace] == ["TraceHeader", "TraceHeader", "Bussiness"]
    assert b"<edXML:Timestamp>2024/03/05 08:02:03</edXML:Timestamp>" in data
    assert b"<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>" in data
    assert b"<edXML:ContentId>cid:1</edXML:ContentId>" in data


def test_no_attachments_means_no_attachment_container() -> None:
    root = etree.fromstring(build_document(minimal_document(), now=NOW))
    assert root.find(f"{{{NS}}}AttachmentEncoded") is None


def test_timestamps_are_vietnam_time_and_need_a_zone() -> None:
    assert format_timestamp(datetime(2024, 12, 31, 17, 30, 5, tzinfo=UTC)) == "2025/01/01 00:30:05"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2024, 1, 1))


def test_revoke_update_replace_must_name_the_document_they_change() -> None:
    with pytest.raises(ValidationError, match="must name the DocumentId"):
        minimal_document().model_validate(
            {
                **minimal_document().model_dump(),
                "business": Business(doc_type=BusinessDocType.REVOKE),
            }
        )


def test_what_the_axis_would_refuse_is_refused_when_building() -> None:
    document = minimal_document().model_copy(update={"sender": organization("G22")})
    with pytest.raises(EnvelopeError) as refused:
        build_document(document)
    assert refused.value.code == "bad_organ_code"
    duplicate = minimal_document().model_copy(
        update={"recipients": [organization(RECIPIENTS[0]), organization(RECIPIENTS[0])]}
    )
    with pytest.raises(EnvelopeError) as refused:
        build_document(duplicate)
    assert refused.value.code == "duplicate_recipient"
    build_document(document, check=False)  # unchecked: the caller's own business


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_signed_document_verifies_and_reads_back(keys: Keys, kind: str) -> None:
    signer = keys.ec if kind == "ec" else keys.rsa
    document = full_document(attachment_count=3)
    signed = sign_envelope(build_document(document, now=NOW), signer)
    verified = verify_envelope(
        signed,
        certificates=[RegisteredCertificate.of(signer.certificate)],
        trust=keys.trust,
        receipt_time=datetime.now(UTC),
    )
    assert verified.algorithm == ("ecdsa-sha256" if kind == "ec" else "rsa-sha256")
    assert_document_matches(envelope_from_tree(verified.signed_xml, LIMITS), document, NOW)
    parsed = parse_envelope(signed, LIMITS)
    assert parsed.signature is SignatureForm.XMLDSIG
    assert_document_matches(parsed, document, NOW)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_signed_status_verifies_and_reads_back(keys: Keys, kind: str) -> None:
    signer = keys.ec if kind == "ec" else keys.rsa
    sent = status(StatusCode.COMPLETED, timestamp=NOW + timedelta(hours=1))
    signed = sign_envelope(build_status(sent), signer)
    verified = verify_envelope(
        signed,
        certificates=[RegisteredCertificate.of(signer.certificate)],
        trust=keys.trust,
        receipt_time=datetime.now(UTC),
    )
    assert_status_matches(envelope_from_tree(verified.signed_xml, LIMITS), sent)
