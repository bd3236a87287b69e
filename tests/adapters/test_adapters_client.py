"""The client's request and answer handling, against `httpx.MockTransport` (the tests
against a running axis live with the server side): what it sends, how problem documents
become AxisError, how the inbox pages, and how receipts are checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from adapters_support import NOW, RECIPIENTS, SENDER, Keys, full_document, status

from adapters.client import AgencyClient, AxisError, AxisUnreachable, InboxItem
from adapters.edxml_builder import build_document
from signing.certificates import RegisteredCertificate
from signing.errors import ErrorCode, SignatureError
from signing.evidence import EvidenceKind, EvidenceRecord, sign_evidence
from signing.signer import Signer
from signing.xmldsig import verify_envelope

BASE = "https://axis.example"
ACCEPTED = {
    "document_id": "0b6f3c57-2f7e-5d3e-9a51-6d2f0c1e9b44",
    "recipients": list(RECIPIENTS),
    "received_at": "2026-11-22T04:12:40.063753Z",
    "receipt_url": f"{BASE}/v1/documents/0b6f3c57-2f7e-5d3e-9a51-6d2f0c1e9b44/receipt",
}
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, keys: Keys | None = None) -> AgencyClient:
    return AgencyClient(
        BASE,
        "token-123",
        None if keys is None else Signer(keys.ec),
        None if keys is None else keys.axis.certificate,
        transport=httpx.MockTransport(handler),
    )


def problem(
    status: int, code: str, headers: dict[str, str] | None = None, **extra: object
) -> httpx.Response:
    body = {"type": f"urn:edoc-axis:problem:{code}", "title": code.title(), "status": status}
    return httpx.Response(
        status,
        json={**body, **extra},
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )


@pytest.mark.parametrize(("status_code", "repeat"), [(202, False), (200, True)])
async def test_send_bytes(status_code: int, repeat: bool) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status_code, json=ACCEPTED)

    envelope = build_document(full_document(), now=NOW)
    async with client(handler) as axis:
        result = await axis.send_document(envelope)
    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/v1/documents")
    assert request.headers["Authorization"] == "Bearer token-123"
    assert request.headers["Content-Type"] == "application/xml"
    assert request.content == envelope
    assert result.repeat is repeat
    assert result.document_id == ACCEPTED["document_id"]
    assert result.recipients == list(RECIPIENTS)
    assert result.received_at == datetime(2026, 11, 22, 4, 12, 40, 63753, tzinfo=UTC)
    assert result.receipt_url == ACCEPTED["receipt_url"]
    assert result.envelope == envelope


async def test_models_are_signed_before_sending(keys: Keys) -> None:
    bodies: dict[str, bytes] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        bodies[request.url.path] = request.content
        return httpx.Response(202, json=ACCEPTED)

    async with client(handler, keys) as axis:
        sent = await axis.send_document(full_document())
        await axis.send_status(status())
    assert sent.envelope == bodies["/v1/documents"]
    for body in bodies.values():
        verified = verify_envelope(
            body,
            certificates=[RegisteredCertificate.of(keys.ec.certificate)],
            trust=keys.trust,
            receipt_time=datetime.now(UTC),
        )
        assert verified.fingerprint == keys.ec.fingerprint


async def test_without_a_key_models_go_unsigned() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(202, json=ACCEPTED)

    async with client(handler) as axis:
        await axis.send_status(status())
    assert b"Signature" not in bodies[0]


async def test_problem_documents_become_axis_errors() -> None:
    errors = [{"element": "OrganId", "line": 12, "message": "bad code"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return problem(422, "envelope_invalid", detail="the envelope is not edXML", errors=errors)

    async with client(handler) as axis:
        with pytest.raises(AxisError) as raised:
            await axis.send_document(b"<edXML/>")
    error = raised.value
    assert (error.status, error.code, error.title) == (422, "envelope_invalid", "Envelope_Invalid")
    assert error.type == "urn:edoc-axis:problem:envelope_invalid"
    assert error.detail == "the envelope is not edXML"
    assert error.errors == errors
    assert error.body["status"] == 422
    assert not error.retryable


async def test_rate_limit_and_server_errors() -> None:
    answers = iter(
        [
            problem(429, "rate_limited", {"Retry-After": "2"}, detail="slow down"),
            httpx.Response(502, text="<html>Bad gateway</html>"),
            problem(409, "document_id_reused", detail="other bytes under a used DocumentId"),
        ]
    )

    async with client(lambda request: next(answers)) as axis:
        with pytest.raises(AxisError) as limited:
            await axis.send_document(b"x")
        with pytest.raises(AxisError) as gateway:
            await axis.send_status(b"x")
        with pytest.raises(AxisError) as conflict:
            await axis.document("some-id")
    assert (limited.value.code, limited.value.retry_after, limited.value.retryable) == (
        "rate_limited",
        2.0,
        True,
    )
    assert (gateway.value.status, gateway.value.code, gateway.value.retryable) == (
        502,
        "http_502",
        True,
    )
    assert gateway.value.detail == "<html>Bad gateway</html>"
    assert conflict.value.code == "document_id_reused"


async def test_unreachable_axis_hands_back_the_bytes(keys: Keys) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client(handler, keys) as axis:
        with pytest.raises(AxisUnreachable) as raised:
            await axis.send_document(full_document())
    assert raised.value.envelope is not None and b"SignatureValue" in raised.value.envelope


async def test_wrong_model_type_is_refused() -> None:
    async with client(lambda request: httpx.Response(202, json=ACCEPTED)) as axis:
        with pytest.raises(TypeError):
            await axis.send_document(status())  # type: ignore[arg-type]


def _entry(number: int, kind: str = "edoc") -> dict[str, object]:
    return {
        "delivery_id": f"d-{number}",
        "type": kind,
        "document_id": f"doc-{number}",
        "status_id": None if kind == "edoc" else f"s-{number}",
        "sender": SENDER,
        "created_at": "2026-11-22T04:12:40Z",
        "state": "delivered",
        "content_sha256": "0" * 64,
        "overdue": False,  # fields the client does not know are ignored
    }


async def test_inbox_follows_cursors() -> None:
    pages = {
        None: {"deliveries": [_entry(1), _entry(2)], "next_cursor": "c1"},
        "c1": {"deliveries": [_entry(3, "status")], "next_cursor": "c2"},
        "c2": {"deliveries": [], "next_cursor": None},
    }
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/inbox"
        params = dict(request.url.params)
        seen.append(params)
        return httpx.Response(200, json=pages[params.get("cursor")])

    async with client(handler) as axis:
        items = [item async for item in axis.inbox(type="edoc", limit=2)]
    assert [item.delivery_id for item in items] == ["d-1", "d-2", "d-3"]
    assert items[2].type == "status" and items[2].status_id == "s-3"
    assert isinstance(items[0], InboxItem) and items[0].created_at == datetime(
        2026, 11, 22, 4, 12, 40, tzinfo=UTC
    )
    assert seen == [
        {"limit": "2", "type": "edoc"},
        {"limit": "2", "type": "edoc", "cursor": "c1"},
        {"limit": "2", "type": "edoc", "cursor": "c2"},
    ]


async def test_inbox_without_type_and_a_single_page() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"deliveries": [_entry(1)], "next_cursor": None})

    async with client(handler) as axis:
        assert [i.delivery_id async for i in axis.inbox()] == ["d-1"]
    assert seen == [{"limit": "100"}]


async def test_download_and_ack() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path == "/v1/inbox/d-1":
            headers = {"X-Axis-Delivery-Id": "d-1", "X-Axis-Document-Id": "doc-1"}
            return httpx.Response(200, content=b"<edXML/>", headers=headers)
        if path == "/v1/inbox/d-1/evidence":
            return httpx.Response(200, content=b"<Evidence/>")
        if path == "/v1/inbox/d-1/ack":
            return httpx.Response(200, json={"delivery_id": "d-1", "state": "acked_fail"})
        return problem(404, "delivery_not_found", detail=path)

    async with client(handler) as axis:
        delivered = await axis.download("d-1")
        acked = await axis.ack("d-1", "fail", "không đọc được tệp đính kèm")
        with pytest.raises(AxisError) as missing:
            await axis.download("d-2")
    assert (delivered.delivery_id, delivered.document_id) == ("d-1", "doc-1")
    assert (delivered.envelope, delivered.evidence) == (b"<edXML/>", b"<Evidence/>")
    assert (acked.delivery_id, acked.state) == ("d-1", "acked_fail")
    ack_request = requests[2]
    assert ack_request.method == "POST"
    assert json.loads(ack_request.content) == {
        "result": "fail",
        "reason": "không đọc được tệp đính kèm",
    }
    assert missing.value.status == 404 and missing.value.code == "delivery_not_found"


async def test_ids_are_escaped_in_paths() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, content=b"r")

    async with client(handler) as axis:
        await axis.receipt("../admin?x=1")
    assert paths == ["/v1/documents/..%2Fadmin%3Fx%3D1/receipt"]


async def test_document_view() -> None:
    view = {
        "document_id": "doc-1",
        "edxml_document_id": full_document().document_id,
        "sender": SENDER,
        "recipients": [{"agency_code": code} for code in RECIPIENTS],
        "business_doc_type": 0,
        "content_sha256": "a" * 64,
        "size_bytes": 1234,
        "received_at": "2026-11-22T04:12:40Z",
        "receipt_url": f"{BASE}/v1/documents/doc-1/receipt",
        "statuses": [
            {
                "status_id": "s-1",
                "sender": RECIPIENTS[0],
                "status_code": "03",
                "signed": True,
                "received_at": "2026-11-22T05:00:00Z",
            }
        ],
    }
    async with client(lambda request: httpx.Response(200, json=view)) as axis:
        info = await axis.document("doc-1")
    assert [r.agency_code for r in info.recipients] == list(RECIPIENTS)
    assert info.statuses[0].status_code == "03"


def _evidence(keys: Keys, original: bytes, kind: EvidenceKind) -> bytes:
    record = EvidenceRecord.for_document(
        original,
        kind=kind,
        document_id="doc-1",
        sender=SENDER,
        recipients=RECIPIENTS,
        time=datetime.now(UTC),
        verified=None,
    )
    return sign_evidence(record, keys.axis)


async def test_receipts(keys: Keys) -> None:
    original = build_document(full_document(), now=NOW)
    receipt = _evidence(keys, original, EvidenceKind.RECEIPT)

    async with client(lambda request: httpx.Response(200, content=receipt), keys) as axis:
        fetched = await axis.receipt("doc-1")
        record = await axis.verify_receipt(fetched, original)
        assert (record.kind, record.document_id) == (EvidenceKind.RECEIPT, "doc-1")
        with pytest.raises(SignatureError) as other_bytes:
            await axis.verify_receipt(fetched, original + b" ")
        assert other_bytes.value.code is ErrorCode.EVIDENCE_MISMATCH
        transit = _evidence(keys, original, EvidenceKind.TRANSIT)
        with pytest.raises(SignatureError) as not_a_receipt:
            await axis.verify_receipt(transit, original)
        assert not_a_receipt.value.code is ErrorCode.EVIDENCE_MISMATCH
    async with client(lambda request: httpx.Response(200)) as unpinned:
        with pytest.raises(ValueError, match="no axis certificate"):
            await unpinned.verify_receipt(receipt, original)
