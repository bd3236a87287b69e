"""A delivery is trusted only when the sender's signature and the axis's transit record both
verify and agree; the document is then read from what the sender signed."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from adapters_support import (
    NOW,
    RECIPIENTS,
    SENDER,
    Keys,
    assert_document_matches,
    assert_status_matches,
    full_document,
    status,
)

from adapters.client import AgencyClient
from adapters.edxml_builder import build_document, build_status
from adapters.verification import (
    Delivered,
    SenderCertificates,
    VerifiedDelivery,
    verify_delivery,
)
from signing.certificates import RegisteredCertificate
from signing.devca import issue_agency_certificate
from signing.errors import ErrorCode, SignatureError
from signing.evidence import (
    EvidenceKind,
    EvidenceRecord,
    SenderSignature,
    Verification,
    sign_evidence,
)
from signing.keys import CertifiedKey
from signing.xmldsig import sign_envelope, verify_envelope


def deliver(
    keys: Keys,
    envelope: bytes,
    *,
    signer: CertifiedKey | None,
    kind: EvidenceKind = EvidenceKind.TRANSIT,
    sender: str = SENDER,
) -> Delivered:
    """What the axis would hand over: the bytes and its transit record over them."""
    received_at = datetime.now(UTC)
    verified = (
        None
        if signer is None
        else verify_envelope(
            envelope,
            certificates=[RegisteredCertificate.of(signer.certificate)],
            trust=keys.trust,
            receipt_time=received_at,
        )
    )
    record = EvidenceRecord.for_document(
        envelope,
        kind=kind,
        document_id="doc-1",
        sender=sender,
        recipients=RECIPIENTS,
        time=received_at,
        verified=verified,
    )
    return Delivered("d-1", "doc-1", envelope, sign_evidence(record, keys.axis))


def check(
    keys: Keys,
    delivered: Delivered,
    sender_certificates: SenderCertificates | None = None,
) -> VerifiedDelivery:
    return verify_delivery(
        delivered,
        axis_certificate=keys.axis.certificate,
        sender_certificates=[keys.ec.certificate]
        if sender_certificates is None
        else sender_certificates,
        trust=keys.trust,
    )


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_a_good_delivery_reads_back_as_signed(keys: Keys, kind: str) -> None:
    signer = keys.ec if kind == "ec" else keys.rsa
    document = full_document(attachment_count=1)
    delivered = deliver(
        keys, sign_envelope(build_document(document, now=NOW), signer), signer=signer
    )
    client = AgencyClient(
        "https://axis.example",
        "t",
        None,
        keys.axis.certificate,
        transport=httpx.MockTransport(lambda request: httpx.Response(500)),
    )
    async with client:
        message = await client.verify_delivered(
            delivered, {SENDER: [keys.ec.certificate, keys.rsa.certificate]}, keys.trust
        )
    assert_document_matches(message, document, NOW)


def test_full_result_names_the_signer_and_the_record(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    result = verify_delivery(
        deliver(keys, envelope, signer=keys.ec),
        axis_certificate=keys.axis.certificate,
        sender_certificates=[RegisteredCertificate.of(keys.ec.certificate)],
        trust=keys.trust,
    )
    assert result.certificate_sha256 == keys.ec.fingerprint
    assert result.evidence.kind is EvidenceKind.TRANSIT and result.evidence.sender == SENDER


def test_changed_bytes_are_refused(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    delivered = deliver(keys, envelope, signer=keys.ec)
    tampered = replace(delivered, envelope=envelope.replace(b"7816", b"7817"))
    with pytest.raises(SignatureError) as refused:
        check(keys, tampered)
    assert refused.value.code is ErrorCode.EVIDENCE_MISMATCH


def test_a_receipt_is_not_a_transit_record(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    with pytest.raises(SignatureError, match="not a transit record"):
        check(keys, deliver(keys, envelope, signer=keys.ec, kind=EvidenceKind.RECEIPT))


def test_the_axis_certificate_is_pinned(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    delivered = deliver(keys, envelope, signer=keys.ec)
    someone_else = issue_agency_certificate(keys.ca, "000.00.00.H99")
    with pytest.raises(SignatureError) as refused:
        verify_delivery(
            delivered,
            axis_certificate=someone_else.certificate,
            sender_certificates=[keys.ec.certificate],
            trust=keys.trust,
        )
    assert refused.value.code is ErrorCode.INVALID_SIGNATURE


def test_the_senders_own_certificates_are_required(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    delivered = deliver(keys, envelope, signer=keys.ec)
    with pytest.raises(SignatureError) as refused:
        check(keys, delivered, [keys.recipient.certificate])
    assert refused.value.code is ErrorCode.CERTIFICATE_NOT_REGISTERED
    with pytest.raises(SignatureError):  # a directory without the sender
        check(keys, delivered, {RECIPIENTS[0]: [keys.ec.certificate]})


def test_the_recorded_sender_must_be_the_signed_one(keys: Keys) -> None:
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    delivered = deliver(keys, envelope, signer=keys.ec, sender=RECIPIENTS[1])
    with pytest.raises(SignatureError, match="the sender the axis recorded"):
        check(keys, delivered)


def test_a_record_about_another_signature_is_refused(keys: Keys) -> None:
    """The record describes these bytes but cites a signature that is not the one in them."""
    envelope = sign_envelope(build_document(full_document(), now=NOW), keys.ec)
    received_at = datetime.now(UTC)
    record = EvidenceRecord(
        kind=EvidenceKind.TRANSIT,
        document_id="doc-1",
        sender=SENDER,
        recipients=RECIPIENTS,
        time=received_at,
        original_sha256=hashlib.sha256(envelope).hexdigest(),
        original_size=len(envelope),
        verification=Verification.VERIFIED,
        sender_signature=SenderSignature("ecdsa-sha256", "1" * 64, keys.ec.fingerprint),
    )
    delivered = Delivered("d-1", "doc-1", envelope, sign_evidence(record, keys.axis))
    with pytest.raises(SignatureError, match="another signature"):
        check(keys, delivered)


def test_unsigned_statuses_pass_only_when_allowed(keys: Keys) -> None:
    sent = status()
    delivered = deliver(keys, build_status(sent), signer=None, sender=RECIPIENTS[0])
    with pytest.raises(SignatureError) as refused:
        check(keys, delivered)
    assert refused.value.code is ErrorCode.MISSING_SIGNATURE
    result = verify_delivery(
        delivered,
        axis_certificate=keys.axis.certificate,
        sender_certificates=[],
        trust=keys.trust,
        allow_unsigned=True,
    )
    assert result.certificate_sha256 is None
    assert_status_matches(result.message, sent)


def test_signed_status_delivery(keys: Keys) -> None:
    sent = status()
    envelope = sign_envelope(build_status(sent), keys.recipient)
    delivered = deliver(keys, envelope, signer=keys.recipient, sender=RECIPIENTS[0])
    result = check(keys, delivered, {RECIPIENTS[0]: [keys.recipient.certificate]})
    assert_status_matches(result.message, sent)
