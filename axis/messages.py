"""What the pipeline publishes on the `documents` topic for the router to fan out.

One JSON object per record, with the record's `type` header naming which of these it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from axis.bus import Message


class DocumentAccepted(BaseModel):
    """A document the axis accepted: stored, verified, receipted; to be delivered."""

    type: Literal["document.accepted"] = "document.accepted"
    document_id: str
    edxml_document_id: str
    sender: str
    recipients: list[str]
    business_doc_type: int
    changes_document_id: str | None
    """The earlier document a revoke (1), update (2) or replace (3) changes."""
    content_sha256: str
    receipt_sha256: str
    transit_sha256: str
    received_at: datetime


class StatusAccepted(BaseModel):
    """A status message the axis accepted; to be routed to the document's sender."""

    type: Literal["status.accepted"] = "status.accepted"
    status_id: str
    document_id: str
    sender: str
    recipients: list[str]
    status_code: str
    content_sha256: str
    receipt_sha256: str
    transit_sha256: str
    signed: bool
    received_at: datetime


class DeliveryRequested(BaseModel):
    """One delivery for the delivery workers, keyed by recipient on the deliveries topic."""

    type: Literal["delivery.requested"] = "delivery.requested"
    delivery_id: str


def bus_message(
    topic: str,
    key: str,
    message: DocumentAccepted | StatusAccepted | DeliveryRequested,
    *headers: tuple[str, bytes],
) -> Message:
    """`message` as a record of `topic`, its `type` in a header (what consumers dispatch on)."""
    return Message(
        topic,
        message.model_dump_json().encode(),
        key.encode(),
        (("type", message.type.encode()), *headers),
    )
