"""The audit events' vocabulary: every event type the axis writes and the `data` each carries.

Both sides read these: the axis writes events with them (`axis.events.Event.of`) and an
agency's client reads the events of the audit entries it is shown. The type strings are
those of the stored audit log (its hashes cover them), so they never change; a new type is
a new member and a new payload model, listed in `PAYLOADS`.

`Payload.data` is the one serialised form of a payload: every field without a default is
always written (None included); a field with a default is left out while at its default
(`warnings` when there are none, `sha256` and `size` of a body not read, ...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.edxml.models import EnvelopeWarning

Transport = Literal["bearer", "vdxp-hmac"]
"""How the sender authenticated: a /v1 bearer token, or the VDXP SDK's header HMAC."""


class EventType(StrEnum):
    DOCUMENT_RECEIVED = "document.received"
    DOCUMENT_VERIFIED = "document.verified"
    DOCUMENT_ACCEPTED = "document.accepted"
    DOCUMENT_REJECTED = "document.rejected"
    STATUS_ACCEPTED = "status.accepted"
    STATUS_REJECTED = "status.rejected"
    DELIVERY_QUEUED = "delivery.queued"
    DELIVERY_ATTEMPTED = "delivery.attempted"
    DELIVERY_RETRYING = "delivery.retrying"
    DELIVERY_DEAD = "delivery.dead"
    DELIVERY_DELIVERED = "delivery.delivered"
    DELIVERY_ACKED = "delivery.acked"
    DELIVERY_REPLAYED = "delivery.replayed"
    AGENCY_CREATED = "agency.created"
    AGENCY_CHANGED = "agency.changed"
    CERTIFICATE_REGISTERED = "certificate.registered"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    REGISTRY_REFUSED = "registry.refused"
    VDXP_REFUSED = "vdxp.refused"
    REQUESTS_REFUSED = "requests.refused"
    AGENCY_PINGED = "agency.pinged"


class Payload(BaseModel):
    """The `data` of one event type (`event_type`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)
    event_type: ClassVar[EventType]

    def data(self) -> dict[str, Any]:
        """The payload as the event's `data` (JSON values, nested models whole)."""
        fields = type(self).model_fields
        return {
            fields[name].serialization_alias or name: value
            for name, value in self.model_dump(mode="json").items()
            if fields[name].is_required()
            or getattr(self, name) != fields[name].get_default(call_default_factory=True)
        }


class DocumentReceived(Payload):
    event_type = EventType.DOCUMENT_RECEIVED
    sha256: str
    size: int
    transport: Transport


class DocumentVerified(Payload):
    event_type = EventType.DOCUMENT_VERIFIED
    certificate: str
    """The SHA-256 fingerprint of the signing certificate."""
    algorithm: str


class DocumentAccepted(Payload):
    event_type = EventType.DOCUMENT_ACCEPTED
    recipients: list[str]
    business_doc_type: int | None = None
    """Written for a document with business information (a revoke, update or replace)."""
    changes_document_id: str | None = None
    """The earlier document a revoke, update or replace changes."""
    warnings: list[EnvelopeWarning] = Field(default_factory=list)


class Rejection(Payload):
    """A message refused with a 4xx problem; `sha256` and `size` once its body was read."""

    code: str
    status: int
    detail: str
    transport: Transport
    sha256: str | None = None
    size: int | None = None


class DocumentRejected(Rejection):
    event_type = EventType.DOCUMENT_REJECTED


class StatusRejected(Rejection):
    event_type = EventType.STATUS_REJECTED


class StatusAccepted(Payload):
    event_type = EventType.STATUS_ACCEPTED
    status_id: str
    status_code: str
    signed: bool
    sha256: str
    transport: Transport
    warnings: list[EnvelopeWarning] = Field(default_factory=list)


class DeliveryStep(Payload):
    """A step of one delivery of a document (`edoc`) or status message (`status`)."""

    delivery_id: str
    kind: str


class DeliveryQueued(DeliveryStep):
    event_type = EventType.DELIVERY_QUEUED


class DeliveryAttempted(DeliveryStep):
    event_type = EventType.DELIVERY_ATTEMPTED
    attempt: int
    duration_ms: int
    error: str | None
    http_status: int | None = None
    """The push endpoint's answer, when there was one."""


class DeliveryRetrying(DeliveryStep):
    event_type = EventType.DELIVERY_RETRYING
    attempt: int
    delay_s: float


class DeliveryDead(DeliveryStep):
    event_type = EventType.DELIVERY_DEAD
    attempt: int
    error: str | None


class DeliveryDelivered(DeliveryStep):
    event_type = EventType.DELIVERY_DELIVERED
    adapter: str


class DeliveryAcked(DeliveryStep):
    event_type = EventType.DELIVERY_ACKED
    result: Literal["done", "fail"]
    reason: str


class DeliveryReplayed(Payload):
    event_type = EventType.DELIVERY_REPLAYED
    delivery_id: str
    after_attempts: int


class FromAddress(Payload):
    """A change made by hand, or a request refused, and the address it came from: the
    client's through the API, the host name from the command line (None if unknown)."""

    from_: str | None = Field(validation_alias="from", serialization_alias="from")


class AgencyCreated(FromAddress):
    event_type = EventType.AGENCY_CREATED
    record: dict[str, Any]
    """The whole registration as flat fields (`delivery.url`, `vdxp.enabled`, ...),
    secrets redacted."""


class FieldChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    before: Any
    after: Any


class AgencyChanged(FromAddress):
    event_type = EventType.AGENCY_CHANGED
    changes: dict[str, FieldChange]
    """Each changed flat field, secrets redacted."""


class CertificateRegistered(FromAddress):
    event_type = EventType.CERTIFICATE_REGISTERED
    fingerprint_sha256: str
    subject: str
    issuer: str
    serial_number: str
    """Lowercase hex."""
    not_before: str
    not_after: str


class TokenChange(FromAddress):
    """A token's id, role and label: never its secret nor its digest."""

    token_id: str
    role: str
    label: str = ""
    revoked_at: str | None = None


class TokenCreated(TokenChange):
    event_type = EventType.TOKEN_CREATED


class TokenRevoked(TokenChange):
    event_type = EventType.TOKEN_REVOKED


class RegistryRefused(FromAddress):
    event_type = EventType.REGISTRY_REFUSED
    action: str
    """import, replace, certificate or vdxp."""
    status: int
    detail: str


class VdxpRefused(FromAddress):
    event_type = EventType.VDXP_REFUSED
    operation: str
    system_id: str
    code: str
    status: int
    detail: str


class RequestsRefused(Payload):
    """A summary of flood-type refusals (rate, authentication, size, time) of one agency
    (None: unauthenticated) for one reason over one period: counted, not one event each."""

    event_type = EventType.REQUESTS_REFUSED
    reason: str
    status: int
    count: int
    first_at: str
    last_at: str


class AgencyPinged(FromAddress):
    """A test delivery an operator sent through an agency's adapter, and how it went."""

    event_type = EventType.AGENCY_PINGED
    ping_id: str
    adapter: str
    outcome: str
    """delivered, retry or dead, as the adapter said."""
    duration_ms: int
    error: str | None
    http_status: int | None = None


PAYLOADS: dict[EventType, type[Payload]] = {
    payload.event_type: payload
    for payload in (
        DocumentReceived,
        DocumentVerified,
        DocumentAccepted,
        DocumentRejected,
        StatusAccepted,
        StatusRejected,
        DeliveryQueued,
        DeliveryAttempted,
        DeliveryRetrying,
        DeliveryDead,
        DeliveryDelivered,
        DeliveryAcked,
        DeliveryReplayed,
        AgencyCreated,
        AgencyChanged,
        CertificateRegistered,
        TokenCreated,
        TokenRevoked,
        RegistryRefused,
        VdxpRefused,
        RequestsRefused,
        AgencyPinged,
    )
}
"""The payload model of each event type."""
