"""`GET /v1/audit/entries/{position}/proof` on each bus and database: an entry, its inclusion
proof and the signed checkpoint it leads to, in one answer that verifies with the axis
certificate alone; an agency gets only the entries it may read."""

from __future__ import annotations

import base64
import json
from typing import Any

from envelopes import document
from running_axis import OTHER, RECIPIENT, SENDER, Axis
from test_delivery import eventually

from axis.audit.merkle import leaf_hash, verify_inclusion
from signing.checkpoints import verify_checkpoint
from signing.xmldsig import sign_envelope


async def signed_sizes(axis: Axis, at_least: int) -> list[int] | None:
    response = await axis.request("GET", "/v1/audit/checkpoints?limit=1000", "auditor")
    sizes = [checkpoint["size"] for checkpoint in response.json()]
    return sizes if sizes and sizes[-1] >= at_least else None


def check(axis: Axis, answer: dict[str, Any]) -> None:
    """The answer proves its entry against its checkpoint, checked as an auditor would."""
    certificate = axis.app.state.ingest.identity.certificate
    checkpoint = verify_checkpoint(answer["checkpoint"]["note"], certificate, "edoc-axis/audit")
    entry = base64.b64decode(answer["entry"])
    assert json.loads(entry)["position"] == answer["position"]
    proof = [base64.b64decode(node) for node in answer["proof"]]
    assert verify_inclusion(
        leaf_hash(entry), answer["position"], checkpoint.size, proof, checkpoint.root
    )
    assert answer["checkpoint"]["size"] == checkpoint.size


async def test_an_entry_with_its_proof_and_checkpoint(axis: Axis) -> None:
    for n in range(3):
        body = sign_envelope(document(SENDER, [RECIPIENT], f"entry-proof,{n}"), axis.key(SENDER))
        assert (await axis.send(SENDER, body)).status_code == 202
    sizes = await eventually(lambda: signed_sizes(axis, 8), "a checkpoint of 8 entries or more")

    latest = await axis.request("GET", "/v1/audit/entries/3/proof", "auditor")
    assert latest.status_code == 200, latest.text
    check(axis, latest.json())
    assert latest.json()["checkpoint"]["size"] >= sizes[-1], "the latest checkpoint by default"

    first = sizes[0]
    for position in {0, first - 1}:
        chosen = await axis.request(
            "GET", f"/v1/audit/entries/{position}/proof?checkpoint={first}", "auditor"
        )
        check(axis, chosen.json())
        assert chosen.json()["checkpoint"]["size"] == first

    outside = await axis.request(
        "GET", f"/v1/audit/entries/{first}/proof?checkpoint={first}", "auditor"
    )
    assert outside.status_code == 422
    assert outside.json()["type"].endswith("not_in_tree")
    unknown = await axis.request(
        "GET", f"/v1/audit/entries/0/proof?checkpoint={sizes[-1] + 1000}", "auditor"
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    beyond = await axis.request("GET", "/v1/audit/entries/1000000/proof", "auditor")
    assert beyond.status_code == 404


async def test_an_agency_proves_only_entries_about_its_documents(axis: Axis) -> None:
    body = sign_envelope(document(SENDER, [RECIPIENT], "entry-proof,agency"), axis.key(SENDER))
    document_id = (await axis.send(SENDER, body)).json()["document_id"]

    async def accepted_position() -> int | None:
        query = f"/v1/audit/entries?document_id={document_id}&type=document.accepted"
        entries = (await axis.request("GET", query, "auditor")).json()["entries"]
        return entries[0]["position"] if entries else None

    position = await eventually(accepted_position, "the document's acceptance logged")
    await eventually(lambda: signed_sizes(axis, position + 1), "a checkpoint covering it")
    url = f"/v1/audit/entries/{position}/proof"
    for reader in (SENDER, RECIPIENT):
        answer = await axis.request("GET", url, reader)
        assert answer.status_code == 200, answer.text
        check(axis, answer.json())
    assert (await axis.request("GET", url, OTHER)).status_code == 404
    assert (await axis.request("GET", url, None)).status_code == 401
