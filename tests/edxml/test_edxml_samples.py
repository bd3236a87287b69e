"""Every real sample parses into the right models; the malformed one is refused at line 74.

The expected attachment digests are computed here independently (regex + base64 +
hashlib), not with the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from schemas.edxml import (
    BusinessDocType,
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    SignatureForm,
    StatusCode,
    StatusMessage,
    envelope_from_tree,
    parse_envelope,
)

SHARED_SAMPLES = Path(__file__).parents[2].parent / "shared" / "samples" / "edxml"
LOCAL_SAMPLES = Path(__file__).parent / "samples"
SAMPLES = SHARED_SAMPLES if SHARED_SAMPLES.is_dir() else LOCAL_SAMPLES
SAMPLE_NAMES = [
    "bkav_edoc_new.edxml",
    "bkav_edoc_update.edxml",
    "bkav_status_processing_05.edxml",
    "lgsp_edoc_3_recipients.edxml",
    "lgsp_edoc_new.edxml",
    "lgsp_malformed_edoc.edxml",
]
ICT = timezone(timedelta(hours=7))
LIMITS = EnvelopeLimits()
ATTACHMENT_NAME = "1896_QD-TTg_m_294779.doc"


def read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def expected_attachment(data: bytes) -> tuple[int, str]:
    """Decoded size and SHA-256 of the sample's only attachment, found by regex."""
    [encoded] = re.findall(rb"<edXML:ContentTransferEncoded[^>]*>([^<]*)</", data)
    raw = base64.b64decode(encoded, validate=True)
    return len(raw), hashlib.sha256(raw).hexdigest()


def parse_document(name: str, **kwargs: bool) -> DocumentEnvelope:
    parsed = parse_envelope(read(name), LIMITS, **kwargs)
    assert isinstance(parsed, DocumentEnvelope)
    return parsed


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_local_copy_is_identical_to_shared(name: str) -> None:
    if not SHARED_SAMPLES.is_dir():
        pytest.skip("shared/ is not beside the repository")
    assert (LOCAL_SAMPLES / name).read_bytes() == (SHARED_SAMPLES / name).read_bytes()


def test_local_copy_keeps_provenance() -> None:
    assert "QuangChuIT/edoc-integrator" in (LOCAL_SAMPLES / "SOURCES.md").read_text()


def test_bkav_new_document() -> None:
    data = read("bkav_edoc_new.edxml")
    doc = parse_document("bkav_edoc_new.edxml")
    header = doc.header
    assert doc.sender_id == "000.00.11.H53"
    assert header.from_.organ_name == "Sở Tính"
    assert header.from_.organ_add is None  # <edXML:OrganAdd/>
    assert doc.recipient_ids == ["000.00.01.A53"]
    assert header.to[0].organ_name == "Văn phòng tỉnh ủy"
    assert header.subject == "Báo cáo tài chính tỉnh"
    assert doc.document_id == "000.00.11.H53,2020/10/30,2491/STC-BCTC"
    assert (header.code.code_number, header.code.code_notation) == ("2491", "STC-BCTC")
    # This file writes dd/MM/yyyy ("30/10/2020"); it is read as the same day, with a warning.
    assert header.promulgation_info.promulgation_date == date(2020, 10, 30)
    assert [(w.code, w.element, w.line) for w in doc.warnings] == [
        ("bad_date", "PromulgationDate", 33)
    ]
    assert header.document_type.type == 1 and header.document_type.type_name == "Công văn"
    assert header.due_date is None
    assert header.signer_info is not None and header.signer_info.full_name is None
    assert header.other_info is not None
    assert header.other_info.page_amount == 22 and header.other_info.direction is False
    assert header.other_info.appendixes == []  # <edXML:Appendix/> is empty
    assert header.steering_type == 1
    assert header.to_places == ["Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP"]
    assert doc.business is not None
    assert doc.business.doc_type is BusinessDocType.NEW
    assert doc.business.doc_reason == "Văn bản điện tử mới"
    assert doc.business.staff_info is not None
    assert doc.business.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    assert [(t.organ_id, t.timestamp) for t in doc.trace_headers] == [
        ("000.00.00.G22", datetime(2018, 9, 28, 0, 0, 0, tzinfo=ICT))
    ]
    [reference] = doc.references
    assert reference.content_id == "cid:209" and reference.attachment_name == ATTACHMENT_NAME
    assert reference.content_type == "application/zip"
    [attachment] = doc.attachments
    size, sha256 = expected_attachment(data)
    assert attachment.content_id == "cid:209"
    assert attachment.attachment_name == ATTACHMENT_NAME
    assert (attachment.size, attachment.sha256) == (size, sha256) == (270823, sha256)
    assert doc.signature is SignatureForm.EDXML_NAMESPACE


def test_bkav_update_document() -> None:
    data = read("bkav_edoc_update.edxml")
    doc = parse_document("bkav_edoc_update.edxml")
    assert doc.sender_id == "000.00.00.G22"
    assert doc.recipient_ids == ["000.00.00.H53", "000.00.12.H53", "000.00.00.G17"]
    assert doc.header.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert doc.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert doc.header.promulgation_info.promulgation_date == date(2018, 9, 28)
    assert doc.header.due_date == date(2018, 9, 28)
    assert doc.business is not None
    assert doc.business.doc_type is BusinessDocType.UPDATE
    info = doc.business.document_info
    assert info is not None and (info.document_info, info.document_receiver) == (1, 1)
    assert [(r.organ_id, r.receiver_type) for r in info.receivers] == [
        ("000.00.00.H41", 0),
        ("000.00.00.H14", 1),
    ]
    assert [t.organ_id for t in doc.trace_headers] == ["000.00.00.G22"]
    [attachment] = doc.attachments
    assert attachment.attachment_name == ATTACHMENT_NAME
    assert (attachment.size, attachment.sha256) == expected_attachment(data)
    assert doc.warnings == []


def test_lgsp_new_document_with_a_legacy_recipient_code() -> None:
    data = read("lgsp_edoc_new.edxml")
    doc = parse_document("lgsp_edoc_new.edxml")
    assert doc.sender_id == "000.00.00.A80"
    assert doc.recipient_ids == ["28.22.H17"]
    assert doc.header.code.code_number == "74fass22"
    assert doc.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert doc.header.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert doc.business is not None and doc.business.doc_type is BusinessDocType.NEW
    assert [(t.organ_id, t.timestamp) for t in doc.trace_headers] == [
        ("000.00.00.G22", datetime(2018, 9, 28, tzinfo=ICT))
    ]
    [attachment] = doc.attachments
    assert attachment.attachment_name == ATTACHMENT_NAME
    assert (attachment.size, attachment.sha256) == expected_attachment(data)


def test_lgsp_legacy_code_refused_when_legacy_codes_are_off() -> None:
    data = read("lgsp_edoc_new.edxml")
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, LIMITS, legacy_organ_codes=False)
    assert caught.value.code == "bad_organ_code"
    assert caught.value.element == "OrganId"
    assert caught.value.line == data[: data.index(b"28.22.H17")].count(b"\n") + 1 == 18
    assert "28.22.H17" in caught.value.message


def test_lgsp_three_recipients_with_bussiness_before_trace_header() -> None:
    data = read("lgsp_edoc_3_recipients.edxml")
    doc = parse_document("lgsp_edoc_3_recipients.edxml")
    assert doc.sender_id == "000.00.00.G22"
    assert doc.recipient_ids == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert doc.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert doc.business is not None and doc.business.doc_type is BusinessDocType.NEW
    assert [(t.organ_id, t.timestamp) for t in doc.trace_headers] == [
        ("000.00.00.G22", datetime(2019, 4, 11, tzinfo=ICT))
    ]
    [attachment] = doc.attachments
    assert attachment.content_type == "application/zip"
    assert (attachment.size, attachment.sha256) == expected_attachment(data)
    assert attachment.size == 4151


def test_bkav_status_processing() -> None:
    status = parse_envelope(read("bkav_status_processing_05.edxml"), LIMITS)
    assert isinstance(status, StatusMessage)
    assert status.status_code is StatusCode.PROCESSING
    assert status.status_code == "05"
    assert "processing" in status.status_code.meaning
    assert status.sender_id == "000.00.00.H41"
    assert status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert status.response_for.organ_id == "000.00.00.G22"
    assert status.response_for.code == "7816/VPCP-TTĐT"
    assert status.response_for.promulgation_date == date(2015, 9, 30)
    assert status.staff_info is not None
    assert status.staff_info.department == "Phong hanh chinh"
    assert status.staff_info.mobile == "84912000001"
    assert status.description == "Đang xử lý văn bản đến"
    assert status.timestamp == datetime(2015, 9, 20, 11, 8, 36, tzinfo=ICT)
    assert status.signature is None


def test_malformed_sample_is_refused_at_line_74() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(read("lgsp_malformed_edoc.edxml"), LIMITS)
    assert caught.value.code == "not_well_formed"
    assert caught.value.line == 74
    assert caught.value.element == "MessageHeader"


def repaired_malformed_sample() -> bytes:
    """The VPCP test file with its three XML defects fixed (see SOURCES.md)."""
    data = read("lgsp_malformed_edoc.edxml")
    data = data.replace(b"        <edXML:From>\r\n         <edXML:From>", b"<edXML:From>", 1)
    data = data.replace(
        b'<edXML:Reference xlink:href="">',
        b'<edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="">',
    )
    return data.replace(
        b"<edXML:AttachmentEncoded>",
        b'<edXML:AttachmentEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">',
    )


def test_repaired_malformed_sample_fails_only_on_its_placeholder_content() -> None:
    data = repaired_malformed_sample()
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, LIMITS)
    assert caught.value.code == "bad_base64"
    assert caught.value.element == "ContentTransferEncoded"
    assert caught.value.line == data.count(b"\n", 0, data.index(b"${__StringFromFile")) + 1


def test_repaired_malformed_sample_in_vpcp_field_order_parses() -> None:
    payload = base64.b64encode(b"%PDF-1.4 test").decode()
    data = repaired_malformed_sample().replace(
        b"${__StringFromFile(test.txt,,,)}", payload.encode()
    )
    doc = parse_envelope(data, LIMITS)
    assert isinstance(doc, DocumentEnvelope)
    assert doc.sender_id == "777.77.04.D77"
    assert doc.recipient_ids == ["777.77.03.D77"]
    assert doc.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert doc.header.response_for == []  # written, but every field empty
    assert doc.business is None
    assert [t.organ_id for t in doc.trace_headers] == ["01.02.G22"]
    assert doc.signature is SignatureForm.XMLDSIG
    [reference] = doc.references
    assert reference.href is None and reference.content_type is None
    [attachment] = doc.attachments
    assert attachment.content_type == "application/pdf"
    assert attachment.sha256 == hashlib.sha256(b"%PDF-1.4 test").hexdigest()


def test_envelope_from_tree_matches_parse_envelope() -> None:
    data = read("bkav_edoc_update.edxml")
    root = etree.fromstring(data)
    assert envelope_from_tree(root, LIMITS) == parse_envelope(data, LIMITS)
    assert envelope_from_tree(root.getroottree(), LIMITS) == parse_envelope(data, LIMITS)


def test_envelope_from_a_signed_tree_without_the_signature_or_line_numbers() -> None:
    """What a verifier hands back: the signed content, re-parsed, Signature removed."""
    root = etree.fromstring(read("lgsp_edoc_3_recipients.edxml"))
    [signature] = root.iter("{http://www.mic.gov.vn/TBT/QCVN_102_2016}Signature")
    signature.getparent().remove(signature)
    signed = etree.fromstring(etree.tostring(root, method="c14n"))
    doc = envelope_from_tree(signed, LIMITS)
    assert isinstance(doc, DocumentEnvelope)
    assert doc.signature is None
    assert doc.recipient_ids == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]

    for element in signed.iter("{http://www.mic.gov.vn/TBT/QCVN_102_2016}Subject"):
        element.text = "changed after signing"
    copy = etree.Element(signed.tag, nsmap=signed.nsmap)
    copy.extend(signed)  # built in memory: no source lines at all
    assert envelope_from_tree(copy, LIMITS).header.subject == "changed after signing"


def test_samples_parse_fast() -> None:
    import time

    data = read("bkav_edoc_new.edxml")
    started = time.perf_counter()
    for _ in range(10):
        parse_envelope(data, LIMITS)
    assert (time.perf_counter() - started) / 10 < 0.1
