"""Check a delivered document before a DMS acts on it: the sender's signature and the axis's
transit record, then read the document only from what the sender signed.

Why separate from the client: deliveries arrive by pull (the client's `download`), by push
(`adapters.receiver` stores them) or by file drop (`adapters.drop_folder` reads them); all
end here, and none needs HTTP for this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from schemas.edxml import (
    DocumentEnvelope,
    EnvelopeLimits,
    StatusMessage,
    envelope_from_tree,
    parse_envelope,
)
from schemas.files import delivery_paths
from signing.certificates import RegisteredCertificate, TrustStore
from signing.errors import ErrorCode, SignatureError
from signing.evidence import EvidenceKind, EvidenceRecord, Verification, verify_evidence
from signing.xmldsig import verify_envelope

SenderCertificate = x509.Certificate | RegisteredCertificate
SenderCertificates = Sequence[SenderCertificate] | Mapping[str, Sequence[SenderCertificate]]
"""The sender's certificates, or a directory of them by organisation code."""


@dataclass(frozen=True)
class Delivered:
    """One delivery as received: the sender's bytes and the axis's transit record."""

    delivery_id: str
    document_id: str | None
    """The axis's document id (X-Axis-Document-Id), when it was given."""
    envelope: bytes
    evidence: bytes

    @classmethod
    def from_folder(cls, directory: Path, delivery_id: str) -> Delivered:
        """A delivery stored in a folder (by the axis's file drop or a push receiver)."""
        envelope, evidence = delivery_paths(directory, delivery_id)
        return cls(delivery_id, None, envelope.read_bytes(), evidence.read_bytes())


@dataclass(frozen=True)
class VerifiedDelivery:
    """What a delivery proved: the signed content, the axis's record, and the signer."""

    message: DocumentEnvelope | StatusMessage
    evidence: EvidenceRecord
    certificate_sha256: str | None
    """Fingerprint of the sender certificate that verified (None: unsigned by policy)."""


def _registered(certificates: Sequence[SenderCertificate]) -> list[RegisteredCertificate]:
    return [
        c if isinstance(c, RegisteredCertificate) else RegisteredCertificate.of(c)
        for c in certificates
    ]


def _mismatch(message: str) -> SignatureError:
    return SignatureError(ErrorCode.EVIDENCE_MISMATCH, message)


def verify_delivery(
    delivered: Delivered,
    *,
    axis_certificate: x509.Certificate | Sequence[x509.Certificate],
    sender_certificates: SenderCertificates,
    trust: TrustStore,
    limits: EnvelopeLimits | None = None,
    allow_unsigned: bool = False,
    allow_sha1: bool = False,
    at: datetime | None = None,
) -> VerifiedDelivery:
    """Verify a delivery; SignatureError (with its code) on anything not proven.

    1. The transit record verifies with the pinned axis certificate and describes exactly
       these envelope bytes (SHA-256 and size).
    2. The sender's XMLDSig verifies with the sender's certificates (never KeyInfo) at the
       time the axis received it (the record's time, unless `at`), chaining to `trust`.
    3. The record's signature digest and certificate are the ones that verified, and the
       signed From/OrganId is the sender the axis recorded.
    A status the axis accepted unsigned by policy passes only with `allow_unsigned`, an
    RSA-SHA1 signature (legacy senders) only with `allow_sha1`.
    """
    limits = limits or EnvelopeLimits()
    record = verify_evidence(
        delivered.evidence, axis_certificate, original=delivered.envelope, at=at
    )
    if record.kind is not EvidenceKind.TRANSIT:
        raise _mismatch(f"the evidence is a {record.kind.value}, not a transit record")
    if isinstance(sender_certificates, Mapping):
        certificates = list(sender_certificates.get(record.sender, ()))
    else:
        certificates = list(sender_certificates)
    if record.verification is Verification.UNSIGNED_BY_POLICY:
        if not allow_unsigned:
            raise SignatureError(
                ErrorCode.MISSING_SIGNATURE,
                "the axis accepted this message unsigned by policy; allow_unsigned is off",
            )
        message = parse_envelope(delivered.envelope, limits)
        fingerprint = None
    else:
        verified = verify_envelope(
            delivered.envelope,
            certificates=_registered(certificates),
            trust=trust,
            receipt_time=at or record.time,
            allow_sha1=allow_sha1,
        )
        signature = record.sender_signature
        assert signature is not None  # EvidenceRecord guarantees it when verified
        if (
            signature.signature_value_sha256 != verified.signature_value_sha256
            or signature.certificate_sha256 != verified.fingerprint
        ):
            raise _mismatch("the transit record names another signature than the one found")
        message = envelope_from_tree(verified.signed_xml, limits)
        fingerprint = verified.fingerprint
    if message.sender_id != record.sender:
        raise _mismatch(
            f"the signed sender {message.sender_id} is not {record.sender}, "
            "the sender the axis recorded"
        )
    return VerifiedDelivery(message=message, evidence=record, certificate_sha256=fingerprint)
