"""Registry changes through the operator API are audit events, on each bus and database:
who (`operator:<token id>`), from where (`data.from`), what changed — and never a secret.
A change the bus cannot record is not made. An update names the document it changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from running_axis import OTHER, RECIPIENT, SENDER, Axis
from test_agency_systems import client, outgoing
from test_delivery import eventually

from adapters.edxml_builder import Business, BusinessDocType
from axis.bus import BusError, Message, Position
from axis.credentials import authenticate
from axis.storage.models import Agency, AgencyCertificate, AgencyStatus
from signing.devca import create_dev_ca, issue_agency_certificate
from signing.keys import certificate_pem

DISTRICT = "000.00.05.H26"
PUSHED = "000.00.00.P01"
SECRET = "push-secret-0123456789"
ROTATED = "push-secret-rotated-9876543210"
URL = "https://dms-user:url-password@dms.example/edoc?key=url-token"
CLIENT = "127.0.0.1"  # httpx.ASGITransport's client address


def pushed(name: str, secret: str) -> dict[str, Any]:
    delivery = {"kind": "push", "url": URL, "secret": secret}
    return {"code": PUSHED, "name": name, "level": "central", "delivery": delivery}


async def logged(axis: Axis, event_type: str, count: int) -> list[dict[str, Any]]:
    """The first `count` or more events of `event_type` in the audit log, in log order."""

    async def events() -> list[dict[str, Any]] | None:
        response = await axis.request(
            "GET", f"/v1/audit/entries?type={event_type}&limit=1000", "auditor"
        )
        found = [entry["event"] for entry in response.json()["entries"]]
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = await eventually(events, f"{count} {event_type} in the log")
    return found


async def operator_actor(axis: Axis) -> str:
    async with axis.app.state.sessions() as session:
        principal = await authenticate(session, axis.tokens["operator"])
    assert principal is not None
    return f"operator:{principal.token_id}"


def assert_no_secret(events: Sequence[dict[str, Any]]) -> None:
    text = json.dumps(events)
    for secret in (SECRET, ROTATED, "url-password", "url-token", "dms-user"):
        assert secret not in text


async def test_agency_changes_are_events_by_the_operator(axis: Axis) -> None:
    actor = await operator_actor(axis)
    district = {
        "code": DISTRICT,
        "name": "UBND Quận Hoàn Kiếm",
        "level": "district",
        "parent_code": RECIPIENT,
    }
    unchanged = {"code": SENDER, "name": f"Agency {SENDER}", "level": "province"}
    imported = await axis.request(
        "POST",
        "/v1/admin/agencies",
        "operator",
        json=[district, pushed("DMS", SECRET), unchanged],
    )
    assert imported.json() == {"created": 2, "updated": 1}

    created = await logged(axis, "agency.created", 2)
    assert [e["agency_code"] for e in created] == [DISTRICT, PUSHED]
    assert {(e["actor"], e["data"]["from"]) for e in created} == {(actor, CLIENT)}
    assert created[0]["data"]["record"] == {
        "name": "UBND Quận Hoàn Kiếm",
        "parent_code": RECIPIENT,
        "level": "district",
        "status": "active",
        "allow_sha1": False,
        "unsigned_statuses": False,
        "delivery.kind": "pull",
    }
    push = created[1]["data"]["record"]
    assert push["delivery.secret"] == "<redacted>"
    assert push["delivery.url"] == "https://<redacted>@dms.example/edoc?<redacted>"
    assert push["delivery.retry"] == {"max_attempts": 12, "max_age_seconds": 86400}

    renamed = await axis.request(
        "POST", "/v1/admin/agencies", "operator", json=[pushed("DMS 2", ROTATED), unchanged]
    )
    assert renamed.json() == {"created": 0, "updated": 2}
    suspended = {"code": OTHER, "name": f"Agency {OTHER}", "level": "province"}
    suspended["status"] = "suspended"
    put = await axis.request("PUT", f"/v1/admin/agencies/{OTHER}", "operator", json=suspended)
    assert put.status_code == 200, put.text

    changed = await logged(axis, "agency.changed", 2)
    # The unchanged SENDER, imported twice, left no event: the log holds every event
    # before the last one, in order.
    assert [e["agency_code"] for e in changed] == [PUSHED, OTHER]
    assert {(e["actor"], e["data"]["from"]) for e in changed} == {(actor, CLIENT)}
    assert changed[0]["data"]["changes"] == {
        "name": {"before": "DMS", "after": "DMS 2"},
        "delivery.secret": {"before": "<redacted>", "after": "<redacted>"},
    }
    assert changed[1]["data"]["changes"] == {"status": {"before": "active", "after": "suspended"}}
    assert_no_secret(created + changed)


async def test_a_certificate_registration_is_an_event(axis: Axis) -> None:
    actor = await operator_actor(axis)
    issued = issue_agency_certificate(create_dev_ca(), OTHER).certificate
    pem = certificate_pem(issued).decode()
    response = await axis.request(
        "POST", f"/v1/admin/agencies/{OTHER}/certificates", "operator", json={"pem": pem}
    )
    assert response.status_code == 201, response.text

    [event] = await logged(axis, "certificate.registered", 1)
    assert (event["actor"], event["agency_code"]) == (actor, OTHER)
    data = event["data"]
    assert data["from"] == CLIENT
    assert data["fingerprint_sha256"] == response.json()["fingerprint_sha256"]
    assert data["subject"] == issued.subject.rfc4514_string()
    assert data["issuer"] == issued.issuer.rfc4514_string()
    assert data["serial_number"] == format(issued.serial_number, "x")
    assert data["not_before"].startswith(issued.not_valid_before_utc.date().isoformat())
    assert data["not_after"].startswith(issued.not_valid_after_utc.date().isoformat())
    assert "BEGIN CERTIFICATE" not in json.dumps(event)


class Unrecording:
    """A bus that never confirms a publish."""

    async def publish_many(self, messages: Sequence[Message]) -> list[Position]:
        raise BusError("the bus did not confirm")


async def test_a_change_the_bus_cannot_record_is_not_made(axis: Axis) -> None:
    issued = issue_agency_certificate(create_dev_ca(), OTHER).certificate
    suspended = {"code": OTHER, "name": "x", "level": "province", "status": "suspended"}
    bus = axis.app.state.bus
    axis.app.state.bus = Unrecording()
    try:
        answers = [
            await axis.request(
                "POST", "/v1/admin/agencies", "operator", json=[pushed("x", SECRET)]
            ),
            await axis.request("PUT", f"/v1/admin/agencies/{OTHER}", "operator", json=suspended),
            await axis.request(
                "POST",
                f"/v1/admin/agencies/{OTHER}/certificates",
                "operator",
                json={"pem": certificate_pem(issued).decode()},
            ),
        ]
    finally:
        axis.app.state.bus = bus
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == "urn:edoc-axis:problem:bus_unavailable"
    async with axis.app.state.sessions() as session:
        assert await session.get(Agency, PUSHED) is None
        other = await session.get(Agency, OTHER)
        assert other is not None
        assert (other.name, other.status) == (f"Agency {OTHER}", AgencyStatus.ACTIVE)
        fingerprint = hashlib.sha256(issued.public_bytes(Encoding.DER)).hexdigest()
        assert await session.get(AgencyCertificate, fingerprint) is None


async def test_an_update_names_the_document_it_changes(axis: Axis) -> None:
    first_id = "000.00.00.G22,2026/11/22,120/VPCP-KGVX"
    async with client(axis, SENDER) as vpcp:
        sent = await vpcp.send_document(outgoing(first_id, Business(doc_type=BusinessDocType.NEW)))
        update = Business(doc_type=BusinessDocType.UPDATE, document_id=first_id, doc_reason="x")
        updated = await vpcp.send_document(
            outgoing("000.00.00.G22,2026/11/22,121/VPCP-KGVX", update)
        )

    accepted = {e["document_id"]: e["data"] for e in await logged(axis, "document.accepted", 2)}
    assert accepted[sent.document_id] == {"recipients": [RECIPIENT], "business_doc_type": 0}
    assert accepted[updated.document_id] == {
        "recipients": [RECIPIENT],
        "business_doc_type": 2,
        "changes_document_id": sent.document_id,
    }


async def test_a_refused_change_is_an_event_too(axis: Axis) -> None:
    actor = await operator_actor(axis)
    bad_certificate = await axis.request(
        "POST", f"/v1/admin/agencies/{OTHER}/certificates", "operator", json={"pem": "x"}
    )
    assert bad_certificate.status_code == 422
    unknown = {"code": "000.00.00.Z99", "name": "Nobody", "level": "central"}
    not_there = await axis.request(
        "PUT", "/v1/admin/agencies/000.00.00.Z99", "operator", json=unknown
    )
    assert not_there.status_code == 404

    events = await logged(axis, "registry.refused", 2)
    assert [(e["actor"], e["agency_code"], e["data"]["action"]) for e in events] == [
        (actor, OTHER, "certificate"),
        (actor, "000.00.00.Z99", "replace"),
    ]
    assert [e["data"]["status"] for e in events] == [422, 404]
    assert events[0]["data"]["detail"] == bad_certificate.json()["detail"]
    assert events[0]["data"]["from"] == CLIENT
