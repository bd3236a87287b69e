"""Values and keys shared by the adapter tests (imported by name: tests/adapters is on
sys.path). A document is described once here and the tests compare what the axis's parser
reads back against it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from adapters.edxml_builder import (
    AttachmentFile,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Organization,
    OtherInfo,
    OutgoingDocument,
    OutgoingStatus,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    TraceHeader,
    build_document,
)
from schemas.edxml import DocumentEnvelope, StatusMessage
from schemas.edxml.models import Attachment, ManifestReference, MessageHeader
from signing.certificates import RegisteredCertificate, TrustStore
from signing.evidence import EvidenceKind, EvidenceRecord, sign_evidence
from signing.keys import CertifiedKey
from signing.xmldsig import sign_envelope, verify_envelope

SENDER = "000.00.00.G22"
RECIPIENTS = ("000.00.00.H26", "000.00.00.H41", "000.00.01.H53")
NOW = datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC)
"""08:02:03 in Vietnam: the TraceHeader must say so."""
EARLIER_ID = "000.00.00.G22,2024/02/01,12/VPCP-TTĐT"
STAFF = StaffInfo(
    department="Văn thư", staff="Nguyễn Thị Ngọc Trâm", mobile="0912", email="vt@gov.vn"
)


@dataclass(frozen=True)
class Keys:
    ca: CertifiedKey
    ec: CertifiedKey
    rsa: CertifiedKey
    recipient: CertifiedKey
    axis: CertifiedKey

    @property
    def trust(self) -> TrustStore:
        return TrustStore([self.ca.certificate])


def organization(code: str, name: str | None = None) -> Organization:
    return Organization(
        organ_id=code,
        organ_name=name or f"Cơ quan {code}",
        organization_in_charge="UBND tỉnh & <thành phố>",
        organ_add="Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội",
        email="vanthu@example.gov.vn",
        telephone="(84-24) 3821 5137",
        fax="024 3823 1234",
        website="https://example.gov.vn",
    )


def attachments(count: int) -> list[AttachmentFile]:
    files = [
        AttachmentFile(
            name="công văn.pdf", content_type="application/pdf", data=b"%PDF-1.7\n" * 50
        ),
        AttachmentFile(
            name="phụ lục.zip",
            content_type="application/zip",
            data=bytes(range(256)) * 3,
            description="Phụ lục kèm theo",
        ),
        AttachmentFile(name="empty.txt", content_type="text/plain", data=b""),
    ]
    return files[:count]


BUSINESSES = {
    BusinessDocType.NEW: Business(
        doc_type=BusinessDocType.NEW, doc_reason="Văn bản điện tử mới", paper=0, staff_info=STAFF
    ),
    BusinessDocType.REVOKE: Business(
        document_id=EARLIER_ID, doc_type=BusinessDocType.REVOKE, doc_reason="Thu hồi văn bản"
    ),
    BusinessDocType.UPDATE: Business(
        document_id=EARLIER_ID,
        doc_type=BusinessDocType.UPDATE,
        doc_reason="Cập nhật văn bản điện tử",
        paper=1,
        document_info=BusinessDocumentInfo(
            document_info=1,
            document_receiver=1,
            receivers=[
                Receiver(organ_id="000.00.00.H41", receiver_type=0),
                Receiver(organ_id="000.00.00.H14", receiver_type=1),
            ],
        ),
        staff_info=STAFF,
    ),
    BusinessDocType.REPLACE: Business(
        document_id=EARLIER_ID,
        doc_type=BusinessDocType.REPLACE,
        doc_reason="Thay thế văn bản",
        replacements=[
            ReplacementInfo(document_id=EARLIER_ID, organ_ids=["000.00.00.H26", "000.00.00.H41"]),
            ReplacementInfo(document_id="000.00.00.G22,2024/01/09,3/VPCP"),
        ],
    ),
}


def full_document(
    *,
    recipients: int = 3,
    attachment_count: int = 1,
    business: BusinessDocType = BusinessDocType.NEW,
    document_id: str = "000.00.00.G22,2024/03/05,7816/VPCP-TTĐT",
) -> OutgoingDocument:
    """A document with every field the builder writes set to something recognisable."""
    return OutgoingDocument(
        sender=organization(SENDER, "Văn phòng Chính phủ"),
        recipients=[organization(code) for code in RECIPIENTS[:recipients]],
        document_id=document_id,
        code=Code(code_number="7816", code_notation="VPCP-TTĐT"),
        promulgation=PromulgationInfo(place="Hà Nội", promulgation_date=date(2024, 3, 5)),
        document_type=DocumentType(type=1, type_detail=0, type_name="Công văn"),
        subject='V/v kết nối, liên thông "phần mềm" <quản lý> & văn bản',
        content="Nội dung\nhai dòng",
        signer_info=SignerInfo(
            competence="TL. BỘ TRƯỞNG", position="Cục trưởng", full_name="Nguyễn Văn A"
        ),
        due_date=date(2024, 4, 1),
        other_info=OtherInfo(
            priority=1,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="TVC",
            promulgation_amount=2,
            page_amount=22,
            direction=False,
            appendixes=["Phụ lục I", "Phụ lục II"],
        ),
        response_for=[
            ResponseFor(
                organ_id="000.00.00.H26",
                code="12/UBND",
                promulgation_date=date(2024, 2, 1),
                document_id="000.00.00.H26,2024/02/01,12/UBND",
            )
        ],
        steering_type=1,
        to_places=["Các bộ và cơ quan ngang bộ", "UBND các tỉnh, thành phố"],
        business=BUSINESSES[business],
        earlier_hops=[
            TraceHeader(
                organ_id="000.00.00.H26", timestamp=datetime(2024, 3, 4, 9, 0, 0, tzinfo=UTC)
            )
        ],
        attachments=attachments(attachment_count),
    )


def minimal_document(document_id: str = "000.00.00.G22,2024/03/05,1/VPCP") -> OutgoingDocument:
    """Only what edXML requires."""
    return OutgoingDocument(
        sender=Organization(organ_id=SENDER),
        recipients=[Organization(organ_id=RECIPIENTS[0])],
        document_id=document_id,
        code=Code(),
        promulgation=PromulgationInfo(promulgation_date=date(2024, 3, 5)),
        document_type=DocumentType(),
        subject="Giấy mời",
    )


def status(
    code: StatusCode = StatusCode.ARRIVED, *, timestamp: datetime | None = NOW
) -> OutgoingStatus:
    return OutgoingStatus(
        sender=organization(RECIPIENTS[0]),
        response_for=ResponseFor(
            organ_id=SENDER,
            code="7816/VPCP-TTĐT",
            promulgation_date=date(2024, 3, 5),
            document_id="000.00.00.G22,2024/03/05,7816/VPCP-TTĐT",
        ),
        status_code=code,
        staff_info=STAFF,
        description=f"Trạng thái {code.meaning}",
        timestamp=timestamp,
    )


def assert_document_matches(parsed: object, document: OutgoingDocument, now: datetime) -> None:
    """Every field read back equals what was built."""
    assert isinstance(parsed, DocumentEnvelope)
    assert parsed.header == MessageHeader(
        from_=document.sender,
        to=document.recipients,
        document_id=document.document_id,
        code=document.code,
        promulgation_info=document.promulgation,
        document_type=document.document_type,
        subject=document.subject,
        content=document.content,
        signer_info=document.signer_info,
        due_date=document.due_date,
        other_info=document.other_info,
        response_for=document.response_for,
        steering_type=document.steering_type,
        to_places=document.to_places,
    )
    assert parsed.trace_headers == [
        *document.earlier_hops,
        TraceHeader(organ_id=document.sender.organ_id, timestamp=now),
    ]
    assert parsed.business == document.business
    assert parsed.attachments == [
        Attachment(
            content_id=f"cid:{index}",
            attachment_name=file.name,
            description=file.description,
            content_type=file.content_type,
            size=len(file.data),
            sha256=hashlib.sha256(file.data).hexdigest(),
        )
        for index, file in enumerate(document.attachments, start=1)
    ]
    assert parsed.references == [
        ManifestReference(
            content_id=f"cid:{index}",
            attachment_name=file.name,
            description=file.description,
            content_type=file.content_type,
        )
        for index, file in enumerate(document.attachments, start=1)
    ]


def assert_status_matches(parsed: object, sent: OutgoingStatus) -> None:
    assert isinstance(parsed, StatusMessage)
    assert parsed.from_ == sent.sender
    assert parsed.response_for == sent.response_for
    assert parsed.staff_info == sent.staff_info
    assert parsed.status_code is sent.status_code
    assert parsed.description == sent.description
    assert parsed.timestamp == sent.timestamp


def transit_delivery(keys: Keys) -> tuple[bytes, bytes]:
    """A delivery as the axis hands it over: `full_document()` as the sender (`keys.ec`)
    signed it, and the axis's signed transit record over those bytes."""
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    received_at = datetime.now(UTC)
    verified = verify_envelope(
        envelope,
        certificates=[RegisteredCertificate.of(keys.ec.certificate)],
        trust=keys.trust,
        receipt_time=received_at,
    )
    record = EvidenceRecord.for_document(
        envelope,
        kind=EvidenceKind.TRANSIT,
        document_id="doc-1",
        sender=SENDER,
        recipients=RECIPIENTS,
        time=received_at,
        verified=verified,
    )
    return envelope, sign_evidence(record, keys.axis)
