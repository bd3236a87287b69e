"""The axis's own signed evidence: a receipt for the sender, a transit record for recipients.

The axis never edits a sender's bytes (a second enveloped signature would break the first),
so it countersigns with a separate XML record over them: the SHA-256 of the stored original
bytes, the SHA-256 of the sender's SignatureValue, the sender certificate's fingerprint, the
verification result, the document id, sender, recipients, time and (optionally) the audit
log position. The record carries an enveloped XMLDSig over itself (URI=""), so `xmlsec1`
verifies it as well as `verify_evidence` does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from signing.certificates import RegisteredCertificate, as_utc, not_valid_reason
from signing.dsig import (
    inspect_signature,
    method_named,
    order_candidates,
    placeholder,
    refuse_outer_instructions,
    sign_enveloped,
    single_signature,
)
from signing.errors import ErrorCode, SignatureError
from signing.fastverify import verify_pinned
from signing.keys import CertifiedKey
from signing.xmldsig import VerifiedEnvelope
from signing.xmlparse import Element, etree, parse, qname

EVIDENCE_NS = "urn:edoc-axis:evidence:1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class EvidenceKind(StrEnum):
    """A receipt goes back to the sender; a transit record travels with the original bytes."""

    RECEIPT = "receipt"
    TRANSIT = "transit"


class Verification(StrEnum):
    """What the axis established about the sender's signature."""

    VERIFIED = "verified"
    UNSIGNED_BY_POLICY = "unsigned-by-policy"
    """Accepted without a signature because policy allows it (e.g. legacy status messages)."""


@dataclass(frozen=True)
class SenderSignature:
    """Which signature the axis verified: enough to find it again in the original bytes."""

    algorithm: str
    signature_value_sha256: str
    certificate_sha256: str


@dataclass(frozen=True)
class EvidenceRecord:
    """The content of a receipt or transit record (all times UTC)."""

    kind: EvidenceKind
    document_id: str
    sender: str
    recipients: tuple[str, ...]
    time: datetime
    original_sha256: str
    original_size: int
    verification: Verification
    sender_signature: SenderSignature | None = None
    audit_position: int | None = None
    """Leaf index in the audit log, when known (a later record can carry it)."""

    def __post_init__(self) -> None:
        if (self.verification is Verification.VERIFIED) != (self.sender_signature is not None):
            raise ValueError("a sender signature is given exactly when verification is 'verified'")
        digests = [self.original_sha256]
        if self.sender_signature is not None:
            digests += [
                self.sender_signature.signature_value_sha256,
                self.sender_signature.certificate_sha256,
            ]
        if not all(_HEX64.fullmatch(d) for d in digests):
            raise ValueError("digests and fingerprints are 64 lowercase hex characters")
        if self.time.tzinfo is None:
            raise ValueError("the evidence time must be timezone-aware")
        if self.audit_position is not None and self.audit_position < 0:
            raise ValueError("the audit position is a non-negative leaf index")

    @classmethod
    def for_document(
        cls,
        original: bytes | tuple[str, int],
        *,
        kind: EvidenceKind,
        document_id: str,
        sender: str,
        recipients: Sequence[str],
        time: datetime,
        verified: VerifiedEnvelope | None,
        audit_position: int | None = None,
    ) -> EvidenceRecord:
        """A record over the stored `original` bytes, or their (SHA-256 hex, size) when they
        are in a file rather than in memory; `verified=None` means unsigned by policy."""
        sha256, size = (
            (hashlib.sha256(original).hexdigest(), len(original))
            if isinstance(original, bytes)
            else original
        )
        signature = (
            None
            if verified is None
            else SenderSignature(
                algorithm=verified.algorithm,
                signature_value_sha256=verified.signature_value_sha256,
                certificate_sha256=verified.fingerprint,
            )
        )
        return cls(
            kind=kind,
            document_id=document_id,
            sender=sender,
            recipients=tuple(recipients),
            time=as_utc(time),
            original_sha256=sha256,
            original_size=size,
            verification=Verification.UNSIGNED_BY_POLICY
            if verified is None
            else Verification.VERIFIED,
            sender_signature=signature,
            audit_position=audit_position,
        )

    def describes(self, original: bytes) -> bool:
        """Whether this record is about exactly these bytes."""
        return (
            len(original) == self.original_size
            and hashlib.sha256(original).hexdigest() == self.original_sha256
        )


def _time_text(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _add(parent: Element, local: str, text: str) -> Element:
    child = etree.SubElement(parent, qname(EVIDENCE_NS, local))
    child.text = text
    return child


def _build(record: EvidenceRecord) -> Element:
    root = etree.Element(
        qname(EVIDENCE_NS, "Evidence"), {"Version": "1"}, nsmap={"ev": EVIDENCE_NS}
    )
    _add(root, "Kind", record.kind.value)
    _add(root, "DocumentId", record.document_id)
    _add(root, "Sender", record.sender)
    recipients = etree.SubElement(root, qname(EVIDENCE_NS, "Recipients"))
    for recipient in record.recipients:
        _add(recipients, "Recipient", recipient)
    _add(root, "Time", _time_text(record.time))
    original = etree.SubElement(root, qname(EVIDENCE_NS, "Original"))
    _add(original, "Sha256", record.original_sha256)
    _add(original, "Size", str(record.original_size))
    _add(root, "Verification", record.verification.value)
    if record.sender_signature is not None:
        sender = etree.SubElement(root, qname(EVIDENCE_NS, "SenderSignature"))
        _add(sender, "Algorithm", record.sender_signature.algorithm)
        _add(sender, "SignatureValueSha256", record.sender_signature.signature_value_sha256)
        _add(sender, "CertificateSha256", record.sender_signature.certificate_sha256)
    if record.audit_position is not None:
        _add(root, "AuditPosition", str(record.audit_position))
    root.append(placeholder())
    return root


def sign_evidence(
    record: EvidenceRecord, signer: CertifiedKey, *, algorithm: str | None = None
) -> bytes:
    """The signed XML record (ECDSA-P256-SHA256 with the default evidence key, RSA-SHA256
    with an RSA key): enveloped signature over the whole record, URI=""."""
    return sign_enveloped(_build(record), signer, method=method_named(algorithm))


def verify_evidence(
    data: bytes,
    axis_certificates: x509.Certificate | Sequence[x509.Certificate],
    *,
    original: bytes | None = None,
    at: datetime | None = None,
) -> EvidenceRecord:
    """Verify a record with the axis's certificate(s) (pinned; KeyInfo is ignored) and read
    it back from the signed content. The certificate must be valid at `at`, by default the
    record's own time. With `original`, also check the record is about those bytes."""
    try:
        return _verify(data, axis_certificates, original=original, at=at)
    except SignatureError:
        raise
    except Exception as exc:  # nothing else may escape
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, f"verification failed: {type(exc).__name__}: {exc}"
        ) from exc


def _verify(
    data: bytes,
    axis_certificates: x509.Certificate | Sequence[x509.Certificate],
    *,
    original: bytes | None,
    at: datetime | None,
) -> EvidenceRecord:
    pinned = (
        [axis_certificates]
        if isinstance(axis_certificates, x509.Certificate)
        else list(axis_certificates)
    )
    root = parse(data)
    if root.tag != qname(EVIDENCE_NS, "Evidence"):
        raise SignatureError(ErrorCode.MALFORMED, f"not an evidence record: {root.tag}")
    refuse_outer_instructions(root)
    signature = single_signature(root)
    if signature.getparent() is not root:
        raise SignatureError(
            ErrorCode.SIGNATURE_MISPLACED, "the evidence Signature must be a child of the root"
        )
    summary = inspect_signature(signature, allow_sha1=False)
    moment = as_utc(at) if at is not None else _read_time(root)
    registered = [RegisteredCertificate.of(c) for c in pinned]
    usable = [r for r in registered if r.valid_at(moment)]
    if not usable:
        raise not_valid_reason(registered, moment, what="axis certificate")
    candidates = [r.certificate for r in usable]
    found = verify_pinned(
        root,
        candidates,
        order_candidates(candidates, summary, [r.der for r in usable]),
        location="./",
        moment=moment,
        allow_sha1=False,
    )
    if found is None:
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, "the record does not verify with the axis certificate"
        )
    with found[0] as signed:
        record = _read(signed.tree())
    if at is None and record.time != moment:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, "the signed time differs")
    if original is not None and not record.describes(original):
        raise SignatureError(
            ErrorCode.EVIDENCE_MISMATCH,
            "the record verifies but describes other bytes than the ones given",
        )
    return record


def _text(parent: Element, local: str, *, required: bool = True) -> str | None:
    found = parent.findall(qname(EVIDENCE_NS, local))
    if len(found) > 1 or (required and not found):
        raise SignatureError(ErrorCode.MALFORMED, f"the evidence record needs exactly one {local}")
    if not found:
        return None
    return str(found[0].text or "")


def _required(parent: Element, local: str) -> str:
    value = _text(parent, local)
    assert value is not None
    return value


def _read_time(root: Element) -> datetime:
    text = _required(root, "Time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"bad evidence time {text!r}") from exc
    if moment.tzinfo is None:
        raise SignatureError(ErrorCode.MALFORMED, f"evidence time without a zone: {text!r}")
    return as_utc(moment)


def _child(parent: Element, local: str) -> Element | None:
    found = parent.findall(qname(EVIDENCE_NS, local))
    if len(found) > 1:
        raise SignatureError(ErrorCode.MALFORMED, f"more than one {local}")
    return found[0] if found else None


def _read(root: Element) -> EvidenceRecord:
    """The record from the signed tree (never from the received one)."""
    try:
        recipients_element = _child(root, "Recipients")
        original = _child(root, "Original")
        if recipients_element is None or original is None:
            raise SignatureError(ErrorCode.MALFORMED, "Recipients and Original are required")
        sender_element = _child(root, "SenderSignature")
        sender_signature = (
            None
            if sender_element is None
            else SenderSignature(
                algorithm=_required(sender_element, "Algorithm"),
                signature_value_sha256=_required(sender_element, "SignatureValueSha256"),
                certificate_sha256=_required(sender_element, "CertificateSha256"),
            )
        )
        position = _text(root, "AuditPosition", required=False)
        return EvidenceRecord(
            kind=EvidenceKind(_required(root, "Kind")),
            document_id=_required(root, "DocumentId"),
            sender=_required(root, "Sender"),
            recipients=tuple(
                str(r.text or "")
                for r in recipients_element.findall(qname(EVIDENCE_NS, "Recipient"))
            ),
            time=_read_time(root),
            original_sha256=_required(original, "Sha256"),
            original_size=int(_required(original, "Size")),
            verification=Verification(_required(root, "Verification")),
            sender_signature=sender_signature,
            audit_position=None if position is None else int(position),
        )
    except ValueError as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"bad evidence record: {exc}") from exc
