"""The axis's signed evidence records: build, sign, verify, read back; tampering and
mismatches are refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from signing_support import DS, G22, Keys, registered, to_bytes, tree

from signing.devca import issue_axis_certificate
from signing.errors import ErrorCode, SignatureError
from signing.evidence import (
    EVIDENCE_NS,
    EvidenceKind,
    EvidenceRecord,
    SenderSignature,
    Verification,
    sign_evidence,
    verify_evidence,
)
from signing.xmldsig import sign_envelope, verify_envelope

RECIPIENTS = ("000.00.00.H41", "000.00.00.H14", "000.00.00.G17")
DOCUMENT_ID = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


@pytest.fixture(scope="module")
def original(keys: Keys, sample: bytes) -> bytes:
    return sign_envelope(sample, keys.ec)


@pytest.fixture(scope="module")
def record(keys: Keys, original: bytes) -> EvidenceRecord:
    received = datetime.now(UTC)
    verified = verify_envelope(
        original, certificates=registered(keys.ec), trust=keys.trust, receipt_time=received
    )
    return EvidenceRecord.for_document(
        original,
        kind=EvidenceKind.RECEIPT,
        document_id=DOCUMENT_ID,
        sender=G22,
        recipients=RECIPIENTS,
        time=received,
        verified=verified,
    )


def refused(code: ErrorCode, data: bytes, certificate, **kw) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify_evidence(data, certificate, **kw)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_record_content(record: EvidenceRecord, original: bytes, keys: Keys) -> None:
    assert record.original_sha256 == hashlib.sha256(original).hexdigest()
    assert record.original_size == len(original)
    assert record.verification is Verification.VERIFIED
    assert record.sender_signature is not None
    assert record.sender_signature.certificate_sha256 == keys.ec.fingerprint
    assert record.sender_signature.algorithm == "ecdsa-sha256"
    assert record.describes(original)
    assert not record.describes(original + b" ")


@pytest.mark.parametrize("axis", ["axis_ec", "axis_rsa"])
def test_round_trip(axis: str, keys: Keys, record: EvidenceRecord, original: bytes) -> None:
    identity = getattr(keys, axis)
    signed = sign_evidence(record, identity)
    root = tree(signed)
    assert root.tag == f"{{{EVIDENCE_NS}}}Evidence"
    assert root[-1].tag == f"{{{DS}}}Signature"
    assert verify_evidence(signed, identity.certificate) == record
    assert verify_evidence(signed, identity.certificate, original=original) == record
    method = root.find(f".//{{{DS}}}SignatureMethod").get("Algorithm")
    assert method.endswith("ecdsa-sha256" if axis == "axis_ec" else "rsa-sha256")


def test_unsigned_by_policy_and_audit_position(keys: Keys) -> None:
    status = b"<edXML/>"
    moment = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=123456)
    record = EvidenceRecord.for_document(
        status,
        kind=EvidenceKind.TRANSIT,
        document_id="status-1",
        sender=G22,
        recipients=["000.00.00.H41"],
        time=moment,
        verified=None,
        audit_position=41,
    )
    assert record.verification is Verification.UNSIGNED_BY_POLICY
    back = verify_evidence(sign_evidence(record, keys.axis_ec), keys.axis_ec.certificate)
    assert back == record
    assert back.sender_signature is None
    assert back.audit_position == 41
    assert back.time == moment


def test_inconsistent_records_cannot_be_built(record: EvidenceRecord) -> None:
    fields = dict(record.__dict__)
    with pytest.raises(ValueError):
        EvidenceRecord(**{**fields, "verification": Verification.UNSIGNED_BY_POLICY})
    with pytest.raises(ValueError):
        EvidenceRecord(**{**fields, "original_sha256": "ABC"})
    with pytest.raises(ValueError):
        EvidenceRecord(**{**fields, "time": datetime(2025, 1, 1)})
    with pytest.raises(ValueError):
        EvidenceRecord(
            **{**fields, "sender_signature": SenderSignature("rsa-sha256", "x" * 64, "0" * 64)}
        )


def test_tampering_is_detected(keys: Keys, record: EvidenceRecord) -> None:
    signed = sign_evidence(record, keys.axis_ec)
    certificate = keys.axis_ec.certificate
    for old, new in [
        (G22.encode(), b"000.00.00.G23"),
        (b"000.00.00.H14", b"000.00.00.H15"),
        (record.original_sha256.encode(), b"0" * 64),
        (b">verified<", b">unsigned-by-policy<"),
    ]:
        assert old in signed
        refused(ErrorCode.INVALID_SIGNATURE, signed.replace(old, new, 1), certificate)
    # A recipient appended after signing.
    root = tree(signed)
    recipients = root.find(f"{{{EVIDENCE_NS}}}Recipients")
    etree.SubElement(recipients, f"{{{EVIDENCE_NS}}}Recipient").text = "000.00.00.X99"
    refused(ErrorCode.INVALID_SIGNATURE, to_bytes(root), certificate)


def test_pinned_to_the_axis_certificate(keys: Keys, record: EvidenceRecord) -> None:
    signed = sign_evidence(record, keys.axis_ec)
    refused(ErrorCode.INVALID_SIGNATURE, signed, keys.axis_rsa.certificate)
    refused(ErrorCode.INVALID_SIGNATURE, signed, keys.ec.certificate)  # an agency's is no good
    # During axis key rotation both are configured; either order works.
    both = [keys.axis_rsa.certificate, keys.axis_ec.certificate]
    assert verify_evidence(signed, both) == record


def test_other_bytes_are_a_mismatch(keys: Keys, record: EvidenceRecord, original: bytes) -> None:
    signed = sign_evidence(record, keys.axis_ec)
    error = refused(
        ErrorCode.EVIDENCE_MISMATCH,
        signed,
        keys.axis_ec.certificate,
        original=original.replace(b"H41", b"H42"),
    )
    assert "other bytes" in error.message


def test_axis_certificate_validity_at_the_record_time(keys: Keys, record: EvidenceRecord) -> None:
    now = datetime.now(UTC)
    old_axis = issue_axis_certificate(
        keys.ca, not_before=now - timedelta(days=800), not_after=now - timedelta(days=400)
    )
    late = EvidenceRecord(**{**record.__dict__, "time": now - timedelta(days=500)})
    signed = sign_evidence(late, old_axis)
    # Verified years later: the certificate was valid when the record was made.
    assert verify_evidence(signed, old_axis.certificate) == late
    refused(ErrorCode.CERTIFICATE_EXPIRED, signed, old_axis.certificate, at=now)
    too_early = sign_evidence(
        EvidenceRecord(**{**record.__dict__, "time": now - timedelta(days=900)}), old_axis
    )
    refused(ErrorCode.CERTIFICATE_NOT_YET_VALID, too_early, old_axis.certificate)


def test_structure_is_enforced(keys: Keys, record: EvidenceRecord, original: bytes) -> None:
    certificate = keys.axis_ec.certificate
    refused(ErrorCode.MALFORMED, original, certificate)  # an envelope is not a record
    refused(ErrorCode.MALFORMED, b"<nope", certificate)
    signed = sign_evidence(record, keys.axis_ec)
    root = tree(signed)
    signature = root[-1]
    root.find(f"{{{EVIDENCE_NS}}}Original").append(signature)
    refused(ErrorCode.SIGNATURE_MISPLACED, to_bytes(root), certificate)
    root = tree(signed)
    root.remove(root[-1])
    refused(ErrorCode.MISSING_SIGNATURE, to_bytes(root), certificate)
