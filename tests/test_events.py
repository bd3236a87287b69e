"""The event vocabulary: every type has a payload model, an event outside it cannot be made,
and the events the producers write are, byte for byte, those written before the vocabulary
was typed (the stored audit log's hashes cover them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from axis.credentials import token_event
from axis.events import Event, Origin
from axis.registry import AgencyChange
from axis.storage.models import ApiToken, Role
from schemas.edxml.models import EnvelopeWarning
from schemas.events import (
    PAYLOADS,
    DeliveryAttempted,
    DeliveryReplayed,
    DeliveryRetrying,
    DocumentAccepted,
    DocumentReceived,
    DocumentRejected,
    EventType,
    StatusAccepted,
    TokenCreated,
    VdxpRefused,
)

ID = "00000000-0000-4000-8000-000000000001"
AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
SENDER = "000.00.00.G01"
RECIPIENT = "000.00.00.G02"
FROM_SENDER: dict[str, Any] = {
    "id": ID,
    "at": AT,
    "actor": f"agency:{SENDER}",
    "document_id": "doc-1",
    "agency_code": SENDER,
}
TO_RECIPIENT: dict[str, Any] = {
    "id": ID,
    "at": AT,
    "actor": "axis",
    "document_id": "doc-1",
    "agency_code": RECIPIENT,
}


def test_every_event_type_has_its_payload_model() -> None:
    assert set(PAYLOADS) == set(EventType)
    assert all(model.event_type is event_type for event_type, model in PAYLOADS.items())


@pytest.mark.parametrize("event_type", ["test.step", "document.acepted", ""])
def test_an_event_of_an_unknown_type_cannot_be_made(event_type: str) -> None:
    with pytest.raises(ValidationError, match="type"):
        Event(type=event_type, actor="axis", data={})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="type"):
        Event.model_validate({"type": event_type, "actor": "axis", "data": {}})


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        (EventType.DOCUMENT_RECEIVED, {"sha256": "ab", "size": 1}),  # no transport
        (EventType.DOCUMENT_RECEIVED, {"sha256": "ab", "size": 1, "transport": "smtp"}),
        (EventType.DOCUMENT_RECEIVED, {"sha256": "ab", "size": "big", "transport": "bearer"}),
        (EventType.DELIVERY_QUEUED, {"delivery_id": "d", "kind": "edoc", "secret": "s"}),
        (EventType.DELIVERY_ACKED, {"delivery_id": "d", "kind": "edoc", "result": "maybe"}),
        (EventType.TOKEN_CREATED, {"token_id": "t", "role": "agency"}),  # no `from`
        (EventType.STATUS_ACCEPTED, {}),
    ],
)
def test_data_that_does_not_fit_its_type_is_refused(
    event_type: EventType, data: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        Event(type=event_type, actor="axis", data=data)


def test_data_built_by_hand_is_written_as_its_payload_writes_it() -> None:
    by_hand = Event(
        type=EventType.TOKEN_CREATED,
        actor="axis",
        data={"from_": None, "token_id": "t", "role": "agency", "label": ""},
    )
    assert by_hand.data == {"from": None, "token_id": "t", "role": "agency"}


def _warning() -> EnvelopeWarning:
    return EnvelopeWarning(code="bad_promulgation_date", message="not a date", line=12)


def _changed_agency() -> Event:
    before = {"name": "Old", "delivery.secret": "s1", "delivery.url": None}
    after = {
        "name": "New",
        "delivery.secret": "s2",
        "delivery.url": "https://u:p@dms.example/in?k=1",
    }
    event = AgencyChange(SENDER, before, after).event(Origin("operator:tok-1", "10.0.0.9"))
    assert event is not None
    return event


def _created_token() -> Event:
    token = ApiToken(id="tok-2", role=Role.AGENCY, agency_code=SENDER, label="")
    return token_event(TokenCreated, token, Origin("cli:tester", None))


def _as_before_typing() -> dict[str, tuple[Event, bytes]]:
    """Events as the producers make them now, and the bytes the untyped producers wrote for
    the same inputs (recorded from the code before `schemas.events`)."""
    return {
        "document.received": (
            Event.of(
                DocumentReceived(sha256="ab" * 32, size=1234, transport="bearer"), **FROM_SENDER
            ),
            (
                b'{"actor":"agency:000.00.00.G01","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"sha256":"abababababababababababababababababababababababababababababababab",'
                b'"size":1234,"transport":"bearer"},"document_id":"doc-1",'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"document.received"}'
            ),
        ),
        "document.accepted, warnings": (
            Event.of(
                DocumentAccepted(
                    recipients=[RECIPIENT],
                    business_doc_type=None,
                    changes_document_id=None,
                    warnings=[_warning()],
                ),
                **FROM_SENDER,
            ),
            (
                b'{"actor":"agency:000.00.00.G01","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z","data":{"recipients":["000.00.00.G02"],'
                b'"warnings":[{"code":"bad_promulgation_date","element":null,"line":12,'
                b'"message":"not a date"}]},"document_id":"doc-1",'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"document.accepted"}'
            ),
        ),
        "document.accepted, a revoke": (
            Event.of(
                DocumentAccepted(
                    recipients=[RECIPIENT, "000.00.00.G03"],
                    business_doc_type=1,
                    changes_document_id="doc-0",
                    warnings=[],
                ),
                **FROM_SENDER,
            ),
            (
                b'{"actor":"agency:000.00.00.G01","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z","data":{"business_doc_type":1,'
                b'"changes_document_id":"doc-0","recipients":["000.00.00.G02","000.00.00.G03"]},'
                b'"document_id":"doc-1","id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"document.accepted"}'
            ),
        ),
        "document.rejected, body unread": (
            Event.of(
                DocumentRejected(
                    code="too_large",
                    status=413,
                    detail="over 1 MiB",
                    transport="vdxp-hmac",
                    sha256=None,
                    size=None,
                ),
                id=ID,
                at=AT,
                actor=f"agency:{SENDER}",
                agency_code=SENDER,
            ),
            (
                b'{"actor":"agency:000.00.00.G01","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z","data":{"code":"too_large",'
                b'"detail":"over 1 MiB","status":413,"transport":"vdxp-hmac"},"document_id":null,'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"document.rejected"}'
            ),
        ),
        "status.accepted": (
            Event.of(
                StatusAccepted(
                    status_id="st-1",
                    status_code="03",
                    signed=False,
                    sha256="cd" * 32,
                    transport="bearer",
                    warnings=[],
                ),
                **FROM_SENDER,
            ),
            (
                b'{"actor":"agency:000.00.00.G01","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"sha256":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",'
                b'"signed":false,"status_code":"03","status_id":"st-1","transport":"bearer"},'
                b'"document_id":"doc-1","id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"status.accepted"}'
            ),
        ),
        "delivery.attempted, push": (
            Event.of(
                DeliveryAttempted(
                    delivery_id="dl-1",
                    kind="edoc",
                    attempt=1,
                    duration_ms=12,
                    error=None,
                    http_status=200,
                ),
                **TO_RECIPIENT,
            ),
            (
                b'{"actor":"axis","agency_code":"000.00.00.G02","at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"attempt":1,"delivery_id":"dl-1","duration_ms":12,"error":null,'
                b'"http_status":200,"kind":"edoc"},"document_id":"doc-1",'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"delivery.attempted"}'
            ),
        ),
        "delivery.attempted, file drop": (
            Event.of(
                DeliveryAttempted(
                    delivery_id="dl-1", kind="status", attempt=2, duration_ms=3, error="disk full"
                ),
                **TO_RECIPIENT,
            ),
            (
                b'{"actor":"axis","agency_code":"000.00.00.G02","at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"attempt":2,"delivery_id":"dl-1","duration_ms":3,"error":"disk full",'
                b'"kind":"status"},"document_id":"doc-1","id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"delivery.attempted"}'
            ),
        ),
        "delivery.retrying": (
            Event.of(
                DeliveryRetrying(delivery_id="dl-1", kind="edoc", attempt=2, delay_s=61.25),
                **TO_RECIPIENT,
            ),
            (
                b'{"actor":"axis","agency_code":"000.00.00.G02","at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"attempt":2,"delay_s":61.25,"delivery_id":"dl-1","kind":"edoc"},'
                b'"document_id":"doc-1","id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"delivery.retrying"}'
            ),
        ),
        "delivery.replayed": (
            Event.of(
                DeliveryReplayed(delivery_id="dl-1", after_attempts=7),
                **(TO_RECIPIENT | {"actor": "operator:tok-1"}),
            ),
            (
                b'{"actor":"operator:tok-1","agency_code":"000.00.00.G02",'
                b'"at":"2026-01-02T03:04:05.678000Z","data":{"after_attempts":7,'
                b'"delivery_id":"dl-1"},"document_id":"doc-1",'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"delivery.replayed"}'
            ),
        ),
        "vdxp.refused": (
            Event.of(
                VdxpRefused(
                    from_=None,
                    operation="sendEdoc",
                    system_id="",
                    code="unauthenticated",
                    status=401,
                    detail="no such system",
                ),
                id=ID,
                at=AT,
                actor=None,
                agency_code=None,
            ),
            (
                b'{"actor":null,"agency_code":null,"at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"code":"unauthenticated","detail":"no such system","from":null,'
                b'"operation":"sendEdoc","status":401,"system_id":""},"document_id":null,'
                b'"id":"00000000-0000-4000-8000-000000000001","type":"vdxp.refused"}'
            ),
        ),
        "token.created": (
            _created_token().model_copy(update={"id": ID, "at": AT}),
            (
                b'{"actor":"cli:tester","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z","data":{"from":null,"role":"agency",'
                b'"token_id":"tok-2"},"document_id":null,"id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"token.created"}'
            ),
        ),
        "agency.changed": (
            _changed_agency().model_copy(update={"id": ID, "at": AT}),
            (
                b'{"actor":"operator:tok-1","agency_code":"000.00.00.G01",'
                b'"at":"2026-01-02T03:04:05.678000Z",'
                b'"data":{"changes":{"delivery.secret":{"after":"<redacted>","before":"<redacted>"},'
                b'"delivery.url":{"after":"https://<redacted>@dms.example/in?<redacted>",'
                b'"before":null},"name":{"after":"New","before":"Old"}},"from":"10.0.0.9"},'
                b'"document_id":null,"id":"00000000-0000-4000-8000-000000000001",'
                b'"type":"agency.changed"}'
            ),
        ),
    }


@pytest.mark.parametrize("name", list(_as_before_typing()))
def test_events_are_the_same_bytes_as_before_the_vocabulary_was_typed(name: str) -> None:
    event, before = _as_before_typing()[name]
    assert event.encode() == before
    again = Event.model_validate_json(event.encode())
    assert again.encode() == before, "read back and written again, it must not change"
