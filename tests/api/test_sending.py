"""Sending documents and statuses through the real API, on each bus and each database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from envelopes import document, status
from running_axis import OTHER, RECIPIENT, SENDER, Axis

from axis.bus import Record
from axis.bus.topics import DOCUMENTS, EVENTS
from axis.credentials import authenticate, revoke_token
from axis.pipeline.ingest import _document_uuid
from schemas.edxml import EnvelopeLimits
from signing.evidence import verify_evidence
from signing.keys import certificate_pem
from signing.xmldsig import sign_envelope

DOCUMENT_ID = "000.00.00.G22,2026/11/22,15/VPCP-TTĐT"


def signed_document(axis: Axis, document_id: str = DOCUMENT_ID, **values: object) -> bytes:
    sender = str(values.get("sender", SENDER))
    recipients = list(values.get("recipients", [RECIPIENT]))  # type: ignore[call-overload]
    return sign_envelope(document(sender, recipients, document_id), axis.key(sender))


async def records_of(axis: Axis, topic: str, count: int) -> list[Record]:
    """The first `count` records of `topic`, read by a fresh consumer group."""
    records: list[Record] = []
    end = time.monotonic() + 60
    async with axis.app.state.bus.consumer(f"test-{time.monotonic_ns()}", [topic]) as consumer:
        while len(records) < count:
            assert time.monotonic() < end, f"only {len(records)} records on {topic}"
            records.extend(await consumer.getmany(max_wait=0.5))
    return records


def xmlsec1_verifies(data: bytes, certificate: bytes, tmp_path: Path) -> bool:
    (tmp_path / "doc.xml").write_bytes(data)
    (tmp_path / "cert.pem").write_bytes(certificate)
    result = subprocess.run(
        ["xmlsec1", "--verify", "--enabled-key-data", "x509",
         "--pubkey-cert-pem", str(tmp_path / "cert.pem"), str(tmp_path / "doc.xml")],
        capture_output=True,
    )  # fmt: skip
    return result.returncode == 0


async def test_a_signed_document_is_accepted_receipted_published_once(
    axis: Axis, tmp_path: Path
) -> None:
    body = signed_document(axis)
    response = await axis.send(SENDER, body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["recipients"] == [RECIPIENT]
    document_id = answer["document_id"]

    receipt = await axis.request("GET", answer["receipt_url"], SENDER)
    assert receipt.status_code == 200
    assert receipt.headers["content-type"] == "application/xml"
    axis_certificate = axis.app.state.ingest.identity.certificate
    assert xmlsec1_verifies(receipt.content, certificate_pem(axis_certificate), tmp_path)
    assert not xmlsec1_verifies(
        receipt.content.replace(b"G22", b"G23"), certificate_pem(axis_certificate), tmp_path
    )
    record = verify_evidence(receipt.content, axis_certificate, original=body)
    assert record.document_id == document_id
    assert record.sender == SENDER
    assert record.recipients == (RECIPIENT,)

    [accepted] = await records_of(axis, DOCUMENTS, 1)
    assert dict(accepted.headers)["type"] == b"document.accepted"
    message = json.loads(accepted.value)
    assert message["document_id"] == document_id
    assert message["recipients"] == [RECIPIENT]
    assert message["content_sha256"] == hashlib.sha256(body).hexdigest()

    again = await axis.send(SENDER, body)
    assert again.status_code == 200
    assert again.json()["document_id"] == document_id

    other_bytes = signed_document(axis, recipients=[RECIPIENT, OTHER])
    conflict = await axis.send(SENDER, other_bytes)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:edoc-axis:problem:document_id_conflict"

    events = [json.loads(r.value)["type"] for r in await records_of(axis, EVENTS, 4)]
    document_steps = [e for e in events if e.startswith("document.")]
    assert document_steps[:3] == ["document.received", "document.verified", "document.accepted"]


async def test_who_sees_a_document(axis: Axis) -> None:
    sent = await axis.send(SENDER, signed_document(axis))
    document_id = sent.json()["document_id"]
    for reader in (SENDER, RECIPIENT, "operator", "auditor"):
        view = await axis.request("GET", f"/v1/documents/{document_id}", reader)
        assert view.status_code == 200, reader
        assert [r["agency_code"] for r in view.json()["recipients"]] == [RECIPIENT]
    hidden = await axis.request("GET", f"/v1/documents/{document_id}", OTHER)
    missing = await axis.request("GET", "/v1/documents/nothing", OTHER)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"]
    receipt = await axis.request("GET", f"/v1/documents/{document_id}/receipt", OTHER)
    assert receipt.status_code == 404

    sent_list = await axis.request("GET", "/v1/documents?direction=sent", SENDER)
    received_list = await axis.request("GET", "/v1/documents?direction=received", RECIPIENT)
    others_list = await axis.request("GET", "/v1/documents", OTHER)
    assert [d["document_id"] for d in sent_list.json()["documents"]] == [document_id]
    assert [d["document_id"] for d in received_list.json()["documents"]] == [document_id]
    assert others_list.json() == {"documents": [], "next_cursor": None}


async def test_listing_pages_with_a_cursor(axis: Axis) -> None:
    ids = []
    for n in range(5):
        sent = await axis.send(SENDER, signed_document(axis, f"000.00.00.G22,2026/11/22,{n}/X"))
        ids.append(sent.json()["document_id"])
    seen: list[str] = []
    cursor = None
    while True:
        query = "/v1/documents?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await axis.request("GET", query, "auditor")).json()
        seen += [d["document_id"] for d in page["documents"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5
    bad = await axis.request("GET", "/v1/documents?cursor=bm9wZQ", "auditor")
    assert bad.status_code == 422
    assert bad.json()["type"] == "urn:edoc-axis:problem:bad_cursor"


async def test_multipart_upload_as_existing_agency_software_does(axis: Axis) -> None:
    response = await axis.client.post(
        "/v1/documents",
        files={"file": ("doc.edxml", signed_document(axis), "application/xml")},
        headers={"Authorization": f"Bearer {axis.tokens[SENDER]}"},
    )
    assert response.status_code == 202, response.text


async def test_refusals_are_problems_and_the_server_keeps_serving(axis: Axis) -> None:
    async def refused(response_status: int, problem: str, agency: str, body: bytes) -> None:
        response = await axis.send(agency, body)
        assert response.status_code == response_status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == f"urn:edoc-axis:problem:{problem}"
        assert (await axis.request("GET", "/healthz", None)).status_code == 200

    await refused(403, "sender_mismatch", OTHER, signed_document(axis))
    unknown = signed_document(axis, recipients=[RECIPIENT, "000.00.00.Z99"])
    await refused(422, "unknown_recipient", SENDER, unknown)
    response = await axis.send(SENDER, unknown)
    assert response.json()["errors"][0]["value"] == "000.00.00.Z99"

    tampered = signed_document(axis).replace(b"V/v ", b"V/x ")
    await refused(422, "signature_invalid_signature", SENDER, tampered)
    await refused(422, "signature_missing_signature", SENDER, document(SENDER, [RECIPIENT], "1"))
    await refused(400, "not_well_formed", SENDER, b"<edXML")
    await refused(422, "not_a_document", SENDER, status(SENDER, SENDER, DOCUMENT_ID, "03"))

    ingest = axis.app.state.ingest
    axis.app.state.ingest = replace(ingest, limits=EnvelopeLimits(max_body_bytes=50_000))
    await refused(413, "too_large", SENDER, b" " * 50_001)
    axis.app.state.ingest = ingest

    suspended = {"code": SENDER, "name": "x", "level": "central", "status": "suspended"}
    put = await axis.request("PUT", f"/v1/admin/agencies/{SENDER}", "operator", json=suspended)
    assert put.status_code == 200
    await refused(403, "agency_suspended", SENDER, signed_document(axis))

    token = axis.tokens[RECIPIENT]
    before_revocation = await axis.request("GET", "/v1/agencies", RECIPIENT)
    assert before_revocation.status_code == 200
    async with axis.app.state.sessions.begin() as session:
        principal = await authenticate(session, token)
        assert principal is not None
        await revoke_token(session, principal.token_id)
    # Revoked as by another process (`axis tokens revoke`): refused within the moment a
    # checked token is remembered (AXIS_TOKEN_CACHE_SECONDS).
    deadline = time.monotonic() + axis.app.state.settings.token_cache_seconds + 5
    while (await axis.request("GET", "/v1/agencies", RECIPIENT)).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token still works"
        await asyncio.sleep(0.05)
    revoked = await axis.send(
        RECIPIENT, signed_document(axis, sender=RECIPIENT, recipients=[OTHER])
    )
    assert revoked.status_code == 401
    assert revoked.json()["type"] == "urn:edoc-axis:problem:invalid_token"


async def test_statuses_answer_received_documents(axis: Axis) -> None:
    document_id = (await axis.send(SENDER, signed_document(axis))).json()["document_id"]

    unsigned = status(RECIPIENT, SENDER, DOCUMENT_ID, "03")
    refused = await axis.send(RECIPIENT, unsigned, "/v1/statuses")
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:edoc-axis:problem:signature_missing_signature"

    signed = sign_envelope(unsigned, axis.key(RECIPIENT))
    accepted = await axis.send(RECIPIENT, signed, "/v1/statuses")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["recipients"] == [SENDER]
    repeat = await axis.send(RECIPIENT, signed, "/v1/statuses")
    assert repeat.status_code == 200
    assert repeat.json()["document_id"] == accepted.json()["document_id"]

    record = {"code": RECIPIENT, "name": "r", "level": "province", "unsigned_statuses": True}
    await axis.request("PUT", f"/v1/admin/agencies/{RECIPIENT}", "operator", json=record)
    completed = await axis.send(
        RECIPIENT, status(RECIPIENT, SENDER, DOCUMENT_ID, "06"), "/v1/statuses"
    )
    assert completed.status_code == 202, completed.text

    stranger = sign_envelope(status(OTHER, SENDER, DOCUMENT_ID, "03"), axis.key(OTHER))
    not_theirs = await axis.send(OTHER, stranger, "/v1/statuses")
    assert not_theirs.status_code == 404
    recall = sign_envelope(status(SENDER, SENDER, DOCUMENT_ID, "13"), axis.key(SENDER))
    assert (await axis.send(SENDER, recall, "/v1/statuses")).status_code == 202
    own_03 = sign_envelope(status(SENDER, SENDER, DOCUMENT_ID, "03"), axis.key(SENDER))
    assert (await axis.send(SENDER, own_03, "/v1/statuses")).status_code == 403

    view = (await axis.request("GET", f"/v1/documents/{document_id}", SENDER)).json()
    assert [(s["sender"], s["status_code"], s["signed"]) for s in view["statuses"]] == [
        (RECIPIENT, "03", True),
        (RECIPIENT, "06", False),
        (SENDER, "13", True),
    ]


async def test_fields_come_from_what_was_signed_with_or_without_comments(axis: Axis) -> None:
    """One parse: a document with nothing unsigned in it is read once, from the received
    tree. A comment added after signing (between elements: inside a value it is refused as
    hidden markup) is not signed, so then the envelope is read again from the signed octets,
    with the same outcome."""
    plain = await axis.send(SENDER, signed_document(axis, DOCUMENT_ID))
    assert plain.status_code == 202, plain.text
    assert plain.json()["document_id"] == _document_uuid(SENDER, DOCUMENT_ID)

    other_id = DOCUMENT_ID.replace("15/", "16/")
    signed = signed_document(axis, other_id)
    commented = signed.replace(b"<edXML:From>", b"<edXML:From><!-- unsigned -->", 1)
    assert commented != signed
    response = await axis.send(SENDER, commented)
    assert response.status_code == 202, response.text
    assert response.json()["document_id"] == _document_uuid(SENDER, other_id)
    assert response.json()["recipients"] == [RECIPIENT]
