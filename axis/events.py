"""Events: what happened, published on the `events` topic for the audit writer.

Events carry ids and metadata only, never document content (content is referred to by
its SHA-256). They are serialised as canonical JSON (sorted keys, no spaces, UTF-8), so the
same event is always the same bytes. Their types and the `data` of each are the vocabulary
of `schemas.events`: an event of another type, or whose data does not fit its type, cannot
be made.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypedDict, Unpack

from pydantic import BaseModel, Field, model_validator

from axis.bus import Bus, Message, Position
from axis.bus.topics import EVENTS
from schemas.events import PAYLOADS, EventType, FromAddress, Payload


class EventFields(TypedDict, total=False):
    """What an event carries besides its type and data."""

    id: str
    at: datetime
    actor: str | None
    document_id: str | None
    agency_code: str | None


class Event(BaseModel):
    """One step of the axis, as the audit log records it."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: EventType
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: str | None = None
    """Who caused it: `agency:<code>`, `operator:<token id>`, `auditor:<token id>`,
    `cli:<user name>`, `axis`."""
    document_id: str | None = None
    agency_code: str | None = None
    data: dict[str, Any]

    @classmethod
    def of(cls, payload: Payload, **fields: Unpack[EventFields]) -> Event:
        """The event of `payload`'s type carrying it as its data."""
        return cls(type=payload.event_type, data=payload.data(), **fields)

    @model_validator(mode="after")
    def _data_fits_type(self) -> Self:
        """Refuses data that is not its type's payload, and writes it in the one form
        `Payload.data` gives (however it was built, the same event is the same bytes)."""
        self.data = PAYLOADS[self.type].model_validate(self.data).data()
        return self

    def encode(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


def canonical_json(value: object) -> bytes:
    """Canonical JSON (RFC 8785 style: sorted keys, no insignificant whitespace, UTF-8): the
    same value is always the same bytes, whoever serialises it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_message(event: Event) -> Message:
    """`event` as a record of the events topic, to publish alone or in a batch."""
    key = (event.document_id or event.agency_code or event.id).encode()
    return Message(EVENTS, event.encode(), key, (("type", event.type.encode()),))


async def publish_event(bus: Bus, event: Event) -> Position:
    """Publish `event`; returns once the bus holds it durably."""
    [position] = await bus.publish_many([event_message(event)])
    return position


async def publish_events(bus: Bus, events: Sequence[Event]) -> None:
    """Publish `events` in one batch (nothing for none); returns once the bus holds them."""
    if events:
        await bus.publish_many([event_message(event) for event in events])


@dataclass(frozen=True)
class Origin:
    """Who changed the registry or the tokens by hand, and from where."""

    actor: str
    """`operator:<token id>` through the API, `cli:<user name>` from the command line."""
    address: str | None
    """The client's address through the API, the host name from the command line."""

    def event(self, payload: FromAddress, agency_code: str | None) -> Event:
        """The event of `payload` (whose `from_` is this origin's address) by this actor."""
        return Event.of(payload, actor=self.actor, agency_code=agency_code)
