"""Two agencies' document systems talk through the axis with the agency-side client, the
way real ones would: a document, an update that changes it, statuses 03 and 06 back, and a
recall (13) answered with 15 — on each bus and database."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import httpx
import pytest
from running_axis import RECIPIENT, SENDER, Axis
from test_delivery import eventually

from adapters.client import AgencyClient, InboxItem
from adapters.edxml_builder import (
    Business,
    BusinessDocType,
    Code,
    DocumentType,
    Organization,
    OutgoingDocument,
    OutgoingStatus,
    PromulgationInfo,
    ResponseFor,
    StatusCode,
)
from schemas.edxml import DocumentEnvelope, StatusMessage
from signing.certificates import RegisteredCertificate, TrustStore
from signing.errors import SignatureError
from signing.signer import Signer

DOCUMENT_ID = "000.00.00.G22,2026/11/22,120/VPCP-KGVX"


def client(axis: Axis, agency: str) -> AgencyClient:
    return AgencyClient(
        "http://axis",
        axis.tokens[agency],
        Signer(axis.key(agency)),
        axis.app.state.ingest.identity.certificate,
        transport=httpx.ASGITransport(app=axis.app),
    )


def outgoing(document_id: str, business: Business) -> OutgoingDocument:
    return OutgoingDocument(
        sender=Organization(organ_id=SENDER, organ_name="Văn phòng Chính phủ"),
        recipients=[Organization(organ_id=RECIPIENT, organ_name="UBND Thành phố Hà Nội")],
        document_id=document_id,
        code=Code(code_number="120", code_notation="VPCP-KGVX"),
        promulgation=PromulgationInfo(place="Hà Nội", promulgation_date=date(2026, 11, 22)),
        document_type=DocumentType(type=1, type_name="Công văn"),
        subject="V/v triển khai trục liên thông văn bản",
        business=business,
    )


def status(code: StatusCode, sender: str, document_id: str = DOCUMENT_ID) -> OutgoingStatus:
    return OutgoingStatus(
        sender=Organization(organ_id=sender),
        response_for=ResponseFor(organ_id=SENDER, document_id=document_id),
        status_code=code,
        description=code.meaning,
    )


async def next_delivery(dms: AgencyClient, seen: set[str], kind: str) -> InboxItem:
    async def new() -> InboxItem | None:
        async for item in dms.inbox(type=kind):  # type: ignore[arg-type]
            if item.delivery_id not in seen:
                seen.add(item.delivery_id)
                return item
        return None

    found: InboxItem = await eventually(new, f"a new {kind} delivery")
    return found


async def test_document_update_statuses_and_recall(axis: Axis) -> None:
    certificates = {
        code: [RegisteredCertificate.of(axis.key(code).certificate)] for code in (SENDER, RECIPIENT)
    }
    trust: TrustStore = axis.app.state.ingest.identity.trust
    seen: set[str] = set()
    async with client(axis, SENDER) as vpcp, client(axis, RECIPIENT) as hanoi:
        sent = await vpcp.send_document(
            outgoing(DOCUMENT_ID, Business(doc_type=BusinessDocType.NEW))
        )
        assert not sent.repeat
        verified_receipt = await vpcp.verify_receipt(
            await vpcp.receipt(sent.document_id), sent.envelope
        )
        assert verified_receipt.document_id == sent.document_id
        logged = await eventually(
            lambda: vpcp.logged_receipt(sent.document_id), "the acceptance under a checkpoint"
        )
        assert logged.receipt == await vpcp.receipt(sent.document_id)
        assert logged.checkpoint.size > logged.position

        item = await next_delivery(hanoi, seen, "edoc")
        delivered = await hanoi.download(item.delivery_id)
        received = await hanoi.verify_delivered(delivered, certificates, trust)
        assert isinstance(received, DocumentEnvelope)
        assert received.header.subject == "V/v triển khai trục liên thông văn bản"
        await hanoi.ack(item.delivery_id, "done")

        for code in (StatusCode.ACCEPTED, StatusCode.COMPLETED):
            await hanoi.send_status(status(code, RECIPIENT))
        codes = []
        for _ in range(2):
            answer = await next_delivery(vpcp, seen, "status")
            message = await vpcp.verify_delivered(
                await vpcp.download(answer.delivery_id), certificates, trust
            )
            assert isinstance(message, StatusMessage)
            codes.append(message.status_code)
        assert sorted(codes) == [StatusCode.ACCEPTED, StatusCode.COMPLETED]

        update = outgoing(
            "000.00.00.G22,2026/11/22,121/VPCP-KGVX",
            Business(
                doc_type=BusinessDocType.UPDATE, document_id=DOCUMENT_ID, doc_reason="Sửa lỗi"
            ),
        )
        updated = await vpcp.send_document(update)
        view = await axis.request("GET", f"/v1/documents/{updated.document_id}", SENDER)
        assert view.json()["changes_document_id"] == sent.document_id
        item = await next_delivery(hanoi, seen, "edoc")
        assert item.document_id == updated.document_id

        await vpcp.send_status(status(StatusCode.RECALL_REQUESTED, SENDER))
        recall = await next_delivery(hanoi, seen, "status")
        message = await hanoi.verify_delivered(
            await hanoi.download(recall.delivery_id), certificates, trust
        )
        assert isinstance(message, StatusMessage)
        assert message.status_code is StatusCode.RECALL_REQUESTED
        await hanoi.send_status(status(StatusCode.RECALL_AGREED, RECIPIENT))
        await next_delivery(vpcp, seen, "status")

        final = (await axis.request("GET", f"/v1/documents/{sent.document_id}", SENDER)).json()
        assert [(s["sender"], s["status_code"]) for s in final["statuses"]] == [
            (RECIPIENT, "03"),
            (RECIPIENT, "06"),
            (SENDER, "13"),
            (RECIPIENT, "15"),
        ]
        assert final["recipients"][0]["state"] == "acked_done"


async def test_an_update_of_an_unknown_document_is_refused(axis: Axis) -> None:
    async with client(axis, SENDER) as vpcp:
        update = outgoing(
            "000.00.00.G22,2026/11/22,122/VPCP-KGVX",
            Business(doc_type=BusinessDocType.REVOKE, document_id="never-sent"),
        )
        response = await axis.send(SENDER, await vpcp.prepare_document(update))
    assert response.status_code == 422
    assert response.json()["type"] == "urn:edoc-axis:problem:changed_document_not_found"


async def test_a_logged_receipt_that_does_not_hold_is_refused(axis: Axis) -> None:
    async with client(axis, SENDER) as vpcp:
        sent = await vpcp.send_document(
            outgoing(
                "000.00.00.G22,2026/11/22,777/VPCP-KGVX", Business(doc_type=BusinessDocType.NEW)
            )
        )
    url = f"/v1/documents/{sent.document_id}/receipt"

    async def signed() -> dict[str, Any] | None:
        answer = await axis.request("GET", url, SENDER, headers={"Accept": "application/json"})
        audit = answer.json()["audit"]
        return answer.json() if audit and audit["checkpoint"] else None

    genuine = await eventually(signed, "the acceptance under a checkpoint")
    audit = genuine["audit"]
    other_entry = json.loads(base64.b64decode(audit["entry"]))
    other_entry["event"]["document_id"] = "someone else's"
    tamperings = {
        "another position": {"position": audit["position"] + 1},
        "a changed proof": {"proof": [base64.b64encode(bytes(32)).decode(), *audit["proof"][1:]]},
        "a proof that is no base64": {"proof": ["%%%", *audit["proof"][1:]]},
        "another size": {"size": audit["size"] + 1},
        "an entry about another document": {
            "entry": base64.b64encode(json.dumps(other_entry).encode()).decode()
        },
        "an unsigned checkpoint": {"checkpoint": audit["checkpoint"].rsplit("\n\n", 1)[0]},
    }
    for what, change in tamperings.items():
        answer = {**genuine, "audit": {**audit, **change}}
        transport = httpx.MockTransport(
            lambda request, answer=answer: httpx.Response(200, json=answer)
        )
        forged = AgencyClient(
            "http://axis", "token", None, axis.app.state.ingest.identity.certificate,
            transport=transport,
        )  # fmt: skip
        async with forged:
            with pytest.raises(SignatureError):
                await forged.logged_receipt(sent.document_id)
                pytest.fail(f"{what} was taken")
