"""The auditor's pages in a real browser against a real `axis serve`: a document's timeline
after it was sent, delivered, acknowledged and answered; an entry's inclusion proof checked
in the browser, and shown as failed when the proof or the checkpoint is tampered with on its
way; the search; the export that `axis audit verify` accepts; no audit page for an agency."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console_harness import ROOT, Served, SignIn, Visits
from cryptography import x509
from envelopes import document, status
from playwright.sync_api import Page, Route, expect
from running_axis import RECIPIENT, SENDER

from signing.keys import fingerprint_sha256
from signing.xmldsig import sign_envelope

SENT = itertools.count(1)
DEADLINE = 60.0
XML = {"Content-Type": "application/xml"}
STEPS = [
    "document.received",
    "document.verified",
    "document.accepted",
    "delivery.queued",
    "delivery.attempted",
    "delivery.delivered",
    "delivery.acked",
    "status.accepted",
    "delivery.queued",
    "delivery.delivered",
]
"""A pulled document's life, in the order the log holds it (the last two: its status's
delivery to the sender)."""


def timeline_until(served: Served, document_id: str, wanted: str) -> list[dict[str, Any]]:
    """The document's timeline through the API once it holds an entry of type `wanted`."""
    end = time.monotonic() + DEADLINE
    with served.client("auditor") as auditor:
        while True:
            answer = auditor.get(f"/v1/audit/documents/{document_id}/timeline")
            entries: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
            if any(entry["type"] == wanted for entry in entries):
                return entries
            assert time.monotonic() < end, f"no {wanted} for {document_id}: {entries}"
            time.sleep(0.05)  # polling the condition above, until the deadline


def signed_up_to(served: Served, position: int) -> int:
    """Wait until a checkpoint signs `position`; that checkpoint's size."""
    end = time.monotonic() + DEADLINE
    with served.client("auditor") as auditor:
        while True:
            checkpoints = auditor.get("/v1/audit/checkpoints?limit=1000").json()
            if checkpoints and checkpoints[-1]["size"] > position:
                return int(checkpoints[-1]["size"])
            assert time.monotonic() < end, f"no checkpoint signs {position}"
            time.sleep(0.05)  # polling the condition above, until the deadline


def a_delivered_document(served: Served) -> str:
    """A document sent from SENDER, delivered to RECIPIENT's inbox, downloaded and
    acknowledged, and answered with a status: its id, once the log holds every step."""
    edxml_id = f"000.00.00.G22,2026/12/03,{next(SENT)}/KT"
    keys = served.keys.agencies
    with served.client(SENDER) as sender, served.client(RECIPIENT) as recipient:
        body = sign_envelope(document(SENDER, [RECIPIENT], edxml_id), keys[SENDER])
        answer = sender.post("/v1/documents", content=body, headers=XML)
        assert answer.status_code == 202, answer.text
        document_id: str = answer.json()["document_id"]
        entries = timeline_until(served, document_id, "delivery.delivered")
        [delivered] = [entry for entry in entries if entry["type"] == "delivery.delivered"]
        delivery_id = delivered["event"]["data"]["delivery_id"]
        assert recipient.get(f"/v1/inbox/{delivery_id}").content == body
        acked = recipient.post(
            f"/v1/inbox/{delivery_id}/ack", json={"result": "done", "reason": "vào sổ"}
        )
        assert acked.status_code == 200, acked.text
        answer = sign_envelope(status(RECIPIENT, SENDER, edxml_id, "03"), keys[RECIPIENT])
        sent = recipient.post("/v1/statuses", content=answer, headers=XML)
        assert sent.status_code == 202, sent.text
    timeline_until(served, document_id, "delivery.acked")
    timeline_until(served, document_id, "status.accepted")
    return document_id


def test_the_auditor_opens_a_documents_timeline(
    signed_in: SignIn, served: Served, visits: Visits
) -> None:
    document_id = a_delivered_document(served)
    page = signed_in("auditor", lang="en")
    page.click("nav >> text=Audit")
    page.fill("input[name=document_id]", document_id)
    page.click("#audit-search button")
    expect(page.locator("#entries tbody tr").first).to_be_visible()
    page.click("#timeline-link")

    expect(page.locator("main h1")).to_contain_text(document_id)
    steps = page.locator("#timeline li.step")
    expect(steps.filter(has=page.locator("text=Acknowledged by the recipient"))).to_have_count(1)
    types = [step.get_attribute("data-type") for step in steps.all()]
    positions = [int(step.get_attribute("data-position") or -1) for step in steps.all()]
    remaining = iter(types)
    assert all(step in remaining for step in STEPS), types  # in this order, maybe others between
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    with served.client("auditor") as auditor:
        api = auditor.get(f"/v1/audit/documents/{document_id}/timeline").json()
    assert positions == [entry["position"] for entry in api], "every entry, no other"
    expect(page.locator("#timeline")).to_contain_text("Delivered")
    expect(page.locator("#timeline")).to_contain_text("vào sổ")  # the ack's reason
    expect(page.locator("#timeline")).to_contain_text(f"agency:{SENDER}")  # who did it
    visits.shot(page, "timeline")  # docs/console-timeline.png is a copy of this one

    # Each step links to its entry.
    page.click(f"#timeline li.step[data-position='{positions[0]}'] a.position")
    expect(page.locator("#entry-position")).to_have_text(str(positions[0]))
    expect(page.locator("#entry-content")).to_contain_text(document_id)


def entry_to_check(served: Served) -> int:
    """A position in the middle of the log, signed by a checkpoint (its proof has nodes)."""
    document_id = a_delivered_document(served)
    entries = timeline_until(served, document_id, "delivery.acked")
    position = int(entries[1]["position"])
    signed_up_to(served, position + 2)
    return position


def test_the_auditor_verifies_an_entrys_proof_in_the_browser(
    signed_in: SignIn, served: Served, visits: Visits
) -> None:
    position = entry_to_check(served)
    page = signed_in("auditor", lang="en")
    page.goto(f"/ui/audit/entries/{position}")
    proof = page.locator("#proof")
    expect(proof).to_have_attribute("data-state", "verified")
    expect(page.locator("#proof-status")).to_have_text("Verified: the entry is in the signed log.")
    for check in ("entry", "inclusion", "signature"):
        expect(page.locator(f"#proof-checks [data-check={check}]")).to_have_attribute(
            "data-passed", "true"
        )
    size = int(page.locator("#checkpoint-size").inner_text())
    root = page.locator("#checkpoint-root").inner_text()
    with served.client("auditor") as auditor:
        checkpoints = auditor.get("/v1/audit/checkpoints?limit=1000").json()
        pem = auditor.get("/v1/audit/certificate").text
    assert size > position
    assert {"size": size, "root": root} in [
        {"size": c["size"], "root": c["root"]} for c in checkpoints
    ], "the checkpoint it names is a signed one"
    expect(page.locator("#checkpoint-time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\dT"))
    fingerprint = fingerprint_sha256(x509.load_pem_x509_certificate(pem.encode()))
    expect(page.locator("#certificate-sha256")).to_have_text(fingerprint)
    expect(page.locator("#proof-failures li")).to_have_count(0)
    visits.shot(page, "verified")


def flipped(text: str, at: int) -> str:
    data = base64.b64decode(text)
    return base64.b64encode(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]).decode()


def tamper_on_the_way(page: Page, change: Any) -> None:
    """Every proof the page fetches passes through `change` before the page reads it."""

    def handle(route: Route) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, json=change(answer.json()))

    page.route(re.compile(r"/ui/audit/entries/\d+/proof$"), handle)


def a_changed_node(proof: dict[str, Any]) -> dict[str, Any]:
    return {**proof, "proof": [flipped(proof["proof"][0], 3), *proof["proof"][1:]]}


def a_changed_root(proof: dict[str, Any]) -> dict[str, Any]:
    checkpoint = proof["checkpoint"]
    note = checkpoint["note"].replace(checkpoint["root"], flipped(checkpoint["root"], 0))
    return {**proof, "checkpoint": {**checkpoint, "note": note}}


def test_a_tampered_proof_or_checkpoint_shows_as_failed(
    signed_in: SignIn, served: Served, visits: Visits
) -> None:
    position = entry_to_check(served)
    page = signed_in("auditor", lang="en")
    for change, failed, message in (
        (a_changed_node, "inclusion", "does not lead to the checkpoint's root"),
        (a_changed_root, "signature", "the checkpoint signature does not verify"),
    ):
        page.unroute_all()
        tamper_on_the_way(page, change)
        page.goto(f"/ui/audit/entries/{position}")
        expect(page.locator("#proof")).to_have_attribute("data-state", "failed")
        expect(page.locator("#proof-status")).to_have_text("NOT verified.")
        expect(page.locator(f"#proof-checks [data-check={failed}]")).to_have_attribute(
            "data-passed", "false"
        )
        expect(page.locator("#proof-failures")).to_contain_text(message)
        visits.shot(page, f"tampered-{failed}")
    # The tampered root is the one shown: the page names what it checked against.
    shown = page.locator("#checkpoint-root").inner_text()
    with served.client("auditor") as auditor:
        real = auditor.get(f"/v1/audit/entries/{position}/proof").json()["checkpoint"]["root"]
    assert shown == flipped(real, 0)


def test_the_search_filters_and_pages_without_javascript(signed_in: SignIn, served: Served) -> None:
    a_delivered_document(served)
    page = signed_in("auditor", javascript=False)
    page.goto("/ui/audit?type=document.accepted&agency=" + SENDER)
    rows = page.locator("#entries tbody tr")
    expect(rows.first).to_be_visible()
    types = page.locator("#entries tbody tr span.event").all()
    assert {t.get_attribute("data-type") for t in types} == {"document.accepted"}
    expect(page.locator("#entries")).to_contain_text("Đã chấp nhận")
    expect(page.locator("select[name=type] option[selected]")).to_have_attribute(
        "value", "document.accepted"
    )

    page.goto("/ui/audit")  # everything, a page at a time
    first = [int(r.get_attribute("data-position") or -1) for r in rows.all()]
    assert first == list(range(len(first))), "log order from the start"
    if page.locator("#next-page").count():
        page.click("#next-page")
        later = [int(r.get_attribute("data-position") or -1) for r in rows.all()]
        assert later[0] == first[-1] + 1

    answer = page.goto("/ui/audit?since=yesterday")
    assert answer is not None and answer.status == 422
    expect(page.locator("main .error")).to_contain_text("Từ thời điểm")
    answer = page.goto("/ui/audit/documents/no-such-document")
    assert answer is not None and answer.status == 404
    page.goto(f"/ui/audit/entries/{first[0]}")
    expect(page.locator("#proof-status")).to_contain_text("cần JavaScript")


def test_an_agency_session_cannot_open_the_audit_pages(signed_in: SignIn) -> None:
    page = signed_in(SENDER)
    assert page.locator("nav a[href='/ui/audit']").count() == 0
    for path in (
        "/ui/audit",
        "/ui/audit/checkpoints",
        "/ui/audit/entries/0",
        "/ui/audit/entries/0/proof",
        "/ui/audit/certificate",
        "/ui/audit/export",
    ):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        expect(page.locator("main h1")).to_have_text("Không có quyền truy cập")


def test_the_exported_bundle_verifies_with_axis_audit_verify(
    signed_in: SignIn, served: Served, tmp_path: Path, visits: Visits
) -> None:
    entry_to_check(served)
    page = signed_in("auditor", lang="en")
    page.goto("/ui/audit/checkpoints")
    expect(page.locator("#checkpoints tbody tr").first).to_be_visible()
    rows = page.locator("#checkpoints tbody tr").all()
    sizes = [int(row.get_attribute("data-size") or 0) for row in rows]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0, "newest first"
    page.fill("#export input[name=from]", "0")
    with page.expect_download() as downloading:
        page.click("#export button")
    bundle = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(bundle)
    assert re.fullmatch(r"audit-0-\d+\.jsonl", bundle.name)
    certificate = page.request.get("/ui/audit/certificate")
    assert certificate.ok
    (tmp_path / "axis.pem").write_bytes(certificate.body())

    env = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
    command = [sys.executable, "-m", "axis.cli", "audit", "verify", str(bundle)]
    command += ["--certificate", str(tmp_path / "axis.pem")]
    checked = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    size = int(bundle.name.removesuffix(".jsonl").split("-")[2])
    assert size > 0

    # The same tool refuses the bundle once an entry in it is changed.
    lines = [json.loads(line) for line in bundle.read_bytes().splitlines()]
    [entry, *_] = [line for line in lines if line["type"] == "entry"]
    content = json.loads(base64.b64decode(entry["entry"]))
    content["event"]["actor"] = "someone else"
    changed = json.dumps(content, separators=(",", ":"), sort_keys=True).encode()
    entry["entry"] = base64.b64encode(changed).decode()
    bundle.write_text("".join(json.dumps(line) + "\n" for line in lines))
    checked = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 1, checked.stdout + checked.stderr

    answer = page.goto("/ui/audit/export?from=999999999")
    assert answer is not None and answer.status == 404
    expect(page.locator("main h1")).to_have_text("Nothing to export")
