"""A test delivery ("ping"): a small status message signed by the axis's own identity, with
its signed transit record, sent once through an agency's adapter, so that an operator sees
at once whether the agency's endpoint (or folder) takes deliveries.

It is no delivery of the flow: no delivery row, no retries, nothing queued; its id starts
with `ping-` so a receiving system can tell it from a document. The operator's request is
audited (`agency.pinged`, with the outcome) by the caller. The axis's key signs it through
`signing.signer.Signer`, never leaving `signing/`.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from axis.delivery.adapters import adapter_for, delivery_config
from axis.delivery.adapters.base import Dead, Delivered, Outcome, Payload, Resources, Retry
from axis.storage.blobs import BlobStore
from signing.dsig import algorithm_name, inspect_signature, single_signature
from signing.evidence import EvidenceKind, EvidenceRecord, SenderSignature, Verification
from signing.identity import AxisIdentity
from signing.xmlparse import EDXML_NS, parse

AXIS_ORGAN_ID = "edoc-axis"
"""The `From/OrganId` of a ping: the axis itself, not an agency."""
ARRIVED = "01"


@dataclass(frozen=True)
class PingPayload(Payload):
    """A payload whose bytes are in memory, not in the blob store."""

    envelope_bytes: bytes
    evidence_bytes: bytes

    async def envelope(self) -> bytes:
        return self.envelope_bytes

    async def evidence(self) -> bytes:
        return self.evidence_bytes


@dataclass(frozen=True)
class PingResult:
    ping_id: str
    adapter: str
    outcome: str
    """delivered, retry (the endpoint may get better) or dead (it will not)."""
    duration_ms: int
    error: str | None
    http_status: int | None


def ping_envelope(ping_id: str, agency_code: str, now: datetime) -> bytes:
    """The unsigned status message of a ping: "arrived" (01) for the ping's own id."""

    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{EDXML_NS}}}{name}")
        element.text = text
        return element

    root = etree.Element(f"{{{EDXML_NS}}}edXML", nsmap={None: EDXML_NS})
    header = add(add(add(root, "edXMLEnvelope"), "edXMLHeader"), "MessageHeader")
    sender = add(header, "From")
    add(sender, "OrganId", AXIS_ORGAN_ID)
    add(sender, "OrganName", "edoc-axis")
    response_for = add(header, "ResponseFor")
    add(response_for, "OrganId", agency_code)
    add(response_for, "DocumentId", ping_id)
    add(header, "StatusCode", ARRIVED)
    add(header, "Description", "Test delivery from the axis (ping)")
    add(header, "Timestamp", now.strftime("%Y/%m/%d %H:%M:%S"))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def signed_ping(identity: AxisIdentity, agency_code: str) -> tuple[str, bytes, bytes]:
    """A new ping's id, its envelope signed by the axis, and the axis's transit record."""
    ping_id = f"ping-{uuid.uuid4()}"
    now = datetime.now(UTC)
    envelope = identity.signer.sign_envelope(ping_envelope(ping_id, agency_code, now))
    summary = inspect_signature(single_signature(parse(envelope)), allow_sha1=False)
    record = EvidenceRecord(
        kind=EvidenceKind.TRANSIT,
        document_id=ping_id,
        sender=AXIS_ORGAN_ID,
        recipients=(agency_code,),
        time=now,
        original_sha256=hashlib.sha256(envelope).hexdigest(),
        original_size=len(envelope),
        verification=Verification.VERIFIED,
        sender_signature=SenderSignature(
            algorithm=algorithm_name(summary.signature_method),
            signature_value_sha256=summary.signature_value_sha256,
            certificate_sha256=identity.signer.fingerprint,
        ),
    )
    return ping_id, envelope, identity.signer.sign_evidence(record)


async def ping(
    delivery: object,
    agency_code: str,
    identity: AxisIdentity,
    resources: Resources,
    blobs: BlobStore,
) -> PingResult:
    """One attempt to deliver a ping to the agency registered with `delivery`."""
    ping_id, envelope, evidence = signed_ping(identity, agency_code)
    config = delivery_config(delivery)
    payload = PingPayload(
        delivery_id=ping_id,
        document_id=ping_id,
        attempt=1,
        content_sha256="",
        transit_sha256="",
        blobs=blobs,  # never read: the ping's bytes are in memory
        envelope_bytes=envelope,
        evidence_bytes=evidence,
    )
    started = time.monotonic()
    try:
        outcome: Outcome = await adapter_for(config, resources).deliver(config, payload)
    except Exception as exc:  # an adapter bug: the operator sees it, nothing else depends on it
        outcome = Retry(None, f"{type(exc).__name__}: {exc}")
    status = outcome.detail.get("http_status")
    return PingResult(
        ping_id=ping_id,
        adapter=config.kind,
        outcome={Delivered: "delivered", Retry: "retry", Dead: "dead"}[type(outcome)],
        duration_ms=round((time.monotonic() - started) * 1000),
        error=None if isinstance(outcome, Delivered) else outcome.reason,
        http_status=status if isinstance(status, int) else None,
    )
