"""The audit log as the auditor sees it: a document's whole timeline, in order, on each bus
and database; entries idempotent on event ids."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography import x509
from envelopes import AUDIT_TRAIL, document
from running_axis import OTHER, RECIPIENT, SENDER, Axis
from test_delivery import eventually, inbox

from axis.audit.entries import audit_entry
from axis.audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from axis.audit.verify import BundleVerifier, Finding, Report
from axis.audit.writer import append_events
from axis.bus import Record
from axis.events import Event
from schemas.events import RegistryRefused
from signing.checkpoints import verify_checkpoint
from signing.errors import SignatureError
from signing.xmldsig import sign_envelope


async def test_a_documents_timeline_from_receipt_to_acknowledgement(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [RECIPIENT], "audit,1"), axis.key(SENDER))
    document_id = (await axis.send(SENDER, body)).json()["document_id"]
    [entry] = await eventually(lambda: inbox(axis, RECIPIENT), "the delivery")
    ack = await axis.request(
        "POST", f"/v1/inbox/{entry['delivery_id']}/ack", RECIPIENT, json={"result": "done"}
    )
    assert ack.status_code == 200

    expected = AUDIT_TRAIL

    async def full_timeline() -> list[dict[str, Any]] | None:
        response = await axis.request(
            "GET", f"/v1/audit/documents/{document_id}/timeline", "auditor"
        )
        entries = list(response.json()) if response.status_code == 200 else []
        return entries if len(entries) >= len(expected) else None

    entries = await eventually(full_timeline, "the whole timeline in the log")
    assert [e["type"] for e in entries] == expected
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    assert entries[0]["event"]["data"]["sha256"]

    for reader, status in ((SENDER, 200), (RECIPIENT, 200), (OTHER, 404), ("operator", 200)):
        response = await axis.request("GET", f"/v1/audit/documents/{document_id}/timeline", reader)
        assert response.status_code == status, reader
    own = await axis.request("GET", "/v1/audit/entries?type=document.accepted", OTHER)
    assert own.json() == {"entries": [], "next_cursor": None}
    page = await axis.request("GET", "/v1/audit/entries?limit=2", "auditor")
    assert len(page.json()["entries"]) == 2
    after = page.json()["next_cursor"]
    rest = await axis.request("GET", f"/v1/audit/entries?after={after}&limit=1000", "auditor")
    assert rest.json()["entries"][0]["position"] == after + 1


async def test_replayed_events_add_nothing(axis: Axis) -> None:
    refused = [
        RegistryRefused(from_=None, action="test", status=400, detail=str(n)) for n in range(3)
    ]
    events = [Event.of(payload, actor="axis") for payload in refused]
    records = [Record("events", 0, n, None, event.encode()) for n, event in enumerate(events)]
    sessions = axis.app.state.sessions
    before = await _size(axis)
    assert await append_events(sessions, records) == 3
    assert await append_events(sessions, records + records[:1]) == 0
    assert await _size(axis) == before + 3


async def _size(axis: Axis) -> int:
    response = await axis.request(
        "GET", "/v1/audit/entries?type=registry.refused&limit=1000", "auditor"
    )
    return len(json.loads(response.text)["entries"])


async def test_tree_head_and_proofs_match_an_offline_recomputation(axis: Axis) -> None:
    for n in range(3):
        body = sign_envelope(document(SENDER, [RECIPIENT], f"proofs,{n}"), axis.key(SENDER))
        assert (await axis.send(SENDER, body)).status_code == 202

    async def entries() -> list[dict[str, Any]] | None:
        page = await axis.request("GET", "/v1/audit/entries?limit=1000", "auditor")
        found = list(page.json()["entries"])
        return found if len(found) >= 12 else None  # 3 x (received, verified, accepted, ...)

    logged = await eventually(entries, "the events in the log")
    offline = MerkleTree.from_entries(audit_entry(e["position"], e["event"]) for e in logged)
    size = len(logged)

    head = (await axis.request("GET", f"/v1/audit/tree?size={size}", "auditor")).json()
    assert base64.b64decode(head["root"]) == offline.root(size)

    for position in (0, size // 2, size - 1):
        proof = (
            await axis.request(
                "GET", f"/v1/audit/proofs/inclusion?position={position}&size={size}", "auditor"
            )
        ).json()
        nodes = [base64.b64decode(node) for node in proof["proof"]]
        leaf = base64.b64decode(proof["leaf_hash"])
        assert leaf == offline.leaf(position)
        assert verify_inclusion(leaf, position, size, nodes, offline.root(size))
        assert not verify_inclusion(leaf, position, size, nodes[1:], offline.root(size))

    older = size // 2
    proof = (
        await axis.request(
            "GET", f"/v1/audit/proofs/consistency?old_size={older}&new_size={size}", "auditor"
        )
    ).json()
    nodes = [base64.b64decode(node) for node in proof["proof"]]
    assert verify_consistency(older, size, offline.root(older), offline.root(size), nodes)
    beyond = await axis.request("GET", f"/v1/audit/tree?size={size + 10_000}", "auditor")
    assert beyond.status_code == 404
    forbidden = await axis.request("GET", "/v1/audit/tree", SENDER)
    assert forbidden.status_code == 403


async def test_checkpoints_are_signed_tree_heads_of_the_log(axis: Axis) -> None:
    for n in range(2):
        body = sign_envelope(document(SENDER, [RECIPIENT], f"checkpoint,{n}"), axis.key(SENDER))
        assert (await axis.send(SENDER, body)).status_code == 202

    async def signed() -> list[dict[str, Any]]:
        response = await axis.request("GET", "/v1/audit/checkpoints", RECIPIENT)
        return [c for c in response.json() if c["size"] >= 5]

    latest = (await eventually(signed, "a checkpoint of 5 entries or more"))[-1]
    certificate = axis.app.state.ingest.identity.certificate
    checkpoint = verify_checkpoint(latest["note"], certificate, "edoc-axis/audit")
    assert checkpoint.size == latest["size"] >= 5
    head = await axis.request("GET", f"/v1/audit/tree?size={checkpoint.size}", "auditor")
    assert base64.b64decode(head.json()["root"]) == checkpoint.root
    forged = latest["note"].replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n")
    with pytest.raises(SignatureError):
        verify_checkpoint(forged, certificate, "edoc-axis/audit")


async def test_an_exported_bundle_verifies_offline_with_the_axis_certificate(axis: Axis) -> None:
    for n in range(2):
        body = sign_envelope(document(SENDER, [RECIPIENT], f"export,{n}"), axis.key(SENDER))
        assert (await axis.send(SENDER, body)).status_code == 202

    async def signed_size() -> int | None:
        response = await axis.request("GET", "/v1/audit/checkpoints?limit=1000", "auditor")
        sizes = [c["size"] for c in response.json()]
        return max(sizes) if sizes and max(sizes) >= 6 else None

    size = await eventually(signed_size, "a checkpoint over both documents' first steps")
    pem = await axis.request("GET", "/v1/audit/certificate", RECIPIENT)
    certificate = x509.load_pem_x509_certificate(pem.content)

    def verified(bundle: bytes) -> Report:
        verifier = BundleVerifier(certificate)
        for line in bundle.splitlines():
            verifier.feed_line(line)
        return verifier.finish()

    whole = await axis.request("GET", "/v1/audit/export", "auditor")
    assert whole.headers["content-type"] == "application/x-ndjson"
    report = verified(whole.content)
    assert report.ok, report.finding
    assert report.entries == report.signed_size >= size and report.checkpoints >= 1

    part = await axis.request("GET", f"/v1/audit/export?from=2&to={size}", "operator")
    report = verified(part.content)
    assert report.ok, report.finding
    assert (report.start, report.entries) == (2, report.end - 2)

    tampered = whole.content.replace(b'"position":3,', b'"position":4,', 1)
    assert verified(tampered).finding == Finding(3, "entry 3 is missing (the next is 4)")

    nothing = await axis.request("GET", "/v1/audit/export?from=1000000", "auditor")
    assert nothing.status_code == 404
    assert nothing.headers["content-type"] == "application/problem+json"
    assert (await axis.request("GET", "/v1/audit/export", SENDER)).status_code == 403


async def test_a_receipt_gains_its_audit_position_and_inclusion_proof(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [RECIPIENT], "receipt,proof"), axis.key(SENDER))
    document_id = (await axis.send(SENDER, body)).json()["document_id"]
    url = f"/v1/documents/{document_id}/receipt"
    as_json = {"Accept": "application/json"}
    xml = await axis.request("GET", url, SENDER)
    assert xml.headers["content-type"] == "application/xml"

    async def signed_proof() -> dict[str, Any] | None:
        response = await axis.request("GET", url, SENDER, headers=as_json)
        audit = response.json()["audit"]
        return response.json() if audit is not None and audit["checkpoint"] else None

    receipt = await eventually(signed_proof, "the acceptance logged under a checkpoint")
    assert receipt["receipt"] == xml.text
    audit = receipt["audit"]
    entry = base64.b64decode(audit["entry"])
    event = json.loads(entry)["event"]
    assert (event["type"], event["document_id"]) == ("document.accepted", document_id)
    root = base64.b64decode(audit["root"])
    proof = [base64.b64decode(node) for node in audit["proof"]]
    assert verify_inclusion(leaf_hash(entry), audit["position"], audit["size"], proof, root)
    certificate = axis.app.state.ingest.identity.certificate
    checkpoint = verify_checkpoint(audit["checkpoint"], certificate, "edoc-axis/audit")
    assert (checkpoint.size, checkpoint.root) == (audit["size"], root)
    other = await axis.request("GET", url, OTHER, headers=as_json)
    assert other.status_code == 404
