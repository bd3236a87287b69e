"""The push wire format (one definition for the axis and the receiver) and the agency's
push receiver: HMAC over ids, timestamp and body, replays refused, deduplication by
delivery id, atomic storage; and the test receiver that fails on purpose."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import hmac
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from adapters_support import NOW, SENDER, Keys, full_document, transit_delivery
from push_endpoint import FaultyReceiver

from adapters.edxml_builder import build_document
from adapters.receiver import PushReceiver, app_from_environment
from adapters.verification import verify_delivery
from schemas.push_format import (
    MAX_CLOCK_SKEW_SECONDS,
    PushFormatError,
    PushSignatureError,
    PushTimestampError,
    build_push_request,
    parse_push_body,
    request_signature,
    string_to_sign,
    verify_push_request,
)

SECRET = "s3cret-shared-with-the-axis"
ENVELOPE = b'<?xml version="1.0"?>\r\n<edXML>--not a boundary\r\n--\r\n</edXML>\r\n'
EVIDENCE = b"<Evidence>\n\xe1\xbb\x87</Evidence>"


def push(
    delivery_id: str = "d-1",
    attempt: int = 1,
    secret: str = SECRET,
    *,
    timestamp: int | None = None,
    evidence: bytes = EVIDENCE,
) -> tuple[dict[str, str], bytes]:
    return build_push_request(
        ENVELOPE, evidence, delivery_id, "doc-1", attempt, secret, timestamp=timestamp
    )


# The wire format


def test_request_round_trip() -> None:
    before = int(time.time())
    headers, body = push("6f1c7a52-delivery", attempt=3)
    assert headers["X-Axis-Delivery-Id"] == "6f1c7a52-delivery"
    assert headers["X-Axis-Document-Id"] == "doc-1"
    assert headers["X-Axis-Attempt"] == "3"
    timestamp = int(headers["X-Axis-Timestamp"])
    assert before <= timestamp <= time.time()
    assert headers["X-Axis-Signature"] == request_signature(
        SECRET, "6f1c7a52-delivery", "doc-1", timestamp, body
    )
    assert headers["X-Axis-Signature"].startswith("v1=") and len(headers["X-Axis-Signature"]) == 67
    assert headers["Content-Type"].startswith(
        'multipart/related; type="application/xml"; start="<envelope>"'
    )
    pushed = verify_push_request(headers, body, SECRET)
    assert (pushed.delivery_id, pushed.document_id, pushed.timestamp, pushed.attempt) == (
        "6f1c7a52-delivery",
        "doc-1",
        timestamp,
        3,
    )
    assert (pushed.parts.envelope, pushed.parts.evidence) == (ENVELOPE, EVIDENCE)


def test_the_string_to_sign_is_the_documented_one() -> None:
    body = b"any body"
    assert string_to_sign("d-1", "doc-1", 1767225600, body) == (
        b"v1\nd-1\ndoc-1\n1767225600\n" + hashlib.sha256(body).hexdigest().encode()
    )
    expected = hmac.new(
        SECRET.encode(), string_to_sign("d-1", "doc-1", 1767225600, body), hashlib.sha256
    )
    assert request_signature(SECRET, "d-1", "doc-1", 1767225600, body) == (
        "v1=" + expected.hexdigest()
    )


def test_a_standard_mime_reader_sees_the_same_parts() -> None:
    envelope = build_document(full_document(), now=NOW)
    headers, body = build_push_request(envelope, EVIDENCE, "d", "doc", 1, SECRET)
    head = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.get_content_type() == "multipart/related"
    parts = list(message.iter_parts())
    assert [p["Content-ID"] for p in parts] == ["<envelope>", "<evidence>"]
    assert [p.get_content_type() for p in parts] == ["application/xml", "application/xml"]
    assert parts[0].get_payload(decode=True) == envelope


def test_boundaries_differ_and_never_occur_in_the_parts() -> None:
    first, _ = push()
    second, _ = push()
    assert first["Content-Type"] != second["Content-Type"]


def test_build_refuses_what_cannot_travel() -> None:
    with pytest.raises(ValueError):
        build_push_request(ENVELOPE, EVIDENCE, "d", "doc", 0, SECRET)
    with pytest.raises(ValueError):
        build_push_request(ENVELOPE, EVIDENCE, "bad id", "doc", 1, SECRET)
    with pytest.raises(ValueError):
        build_push_request(ENVELOPE, EVIDENCE, "../d", "doc", 1, SECRET)
    with pytest.raises(ValueError):
        build_push_request(ENVELOPE, EVIDENCE, "d", "doc\r\nX-Evil: 1", 1, SECRET)
    with pytest.raises(ValueError):
        build_push_request(ENVELOPE, EVIDENCE, "d", "doc", 1, "")


def test_signature_check() -> None:
    headers, body = push()
    assert verify_push_request(headers, body, SECRET.encode()).delivery_id == "d-1"
    lower = {name.lower(): value for name, value in headers.items()}
    assert verify_push_request(lower, body, SECRET).delivery_id == "d-1"
    good = headers["X-Axis-Signature"]
    refused = [
        ({}, body, "other secret"),
        ({}, body + b" ", SECRET),
        ({"X-Axis-Signature": good.upper()}, body, SECRET),
        ({"X-Axis-Signature": "v1=ü" + good[4:]}, body, SECRET),
        ({"X-Axis-Signature": "sha256=" + good[3:]}, body, SECRET),
        ({"X-Axis-Document-Id": "doc-2"}, body, SECRET),
        ({"X-Axis-Timestamp": str(int(headers["X-Axis-Timestamp"]) + 1)}, body, SECRET),
        ({"X-Axis-Timestamp": "2026-01-01T00:00:00Z"}, body, SECRET),
    ]
    for change, sent, secret in refused:
        with pytest.raises(PushSignatureError):
            verify_push_request({**headers, **change}, sent, secret)
    unsigned = {name: value for name, value in headers.items() if name != "X-Axis-Signature"}
    with pytest.raises(PushSignatureError, match="no X-Axis-Signature"):
        verify_push_request(unsigned, body, SECRET)


def test_timestamps_more_than_five_minutes_off_are_refused() -> None:
    assert MAX_CLOCK_SKEW_SECONDS == 300
    now = 1_800_000_000
    for skew in (-300, 0, 300):
        headers, body = push(timestamp=now + skew)
        assert verify_push_request(headers, body, SECRET, now=now).timestamp == now + skew
    for skew, word in ((-301, "behind"), (301, "ahead of")):
        headers, body = push(timestamp=now + skew)
        with pytest.raises(PushTimestampError, match=f"301 s {word}"):
            verify_push_request(headers, body, SECRET, now=now)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/xml", b"", "expected multipart/related"),
        ("multipart/related", b"", "no usable boundary"),
        ("multipart/related; boundary=b", b"nothing", "no part"),
        ("multipart/related; boundary=b", b"--b\r\nContent-ID: <envelope>\r\n\r\nx", "ends inside"),
        (
            "multipart/related; boundary=b",
            b"--b\r\nContent-ID: <envelope>\r\n\r\nx\r\n--b--",
            "no part <evidence>",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\nContent-ID: <envelope>\r\nx\r\n--b--",
            "no blank line",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\nContent-ID: <envelope>\r\n\r\nx\r\n"
            b"--b\r\nContent-ID: <envelope>\r\n\r\ny\r\n--b--",
            "appears twice",
        ),
        ("multipart/related; boundary=b", b"--b junk\r\n\r\nx\r\n--b--", "delimiter line"),
    ],
)
def test_parser_refuses_malformed_bodies(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(PushFormatError, match=message):
        parse_push_body(content_type, body)


def test_the_format_module_imports_neither_side() -> None:
    code = (
        "import sys, schemas.push_format; "
        "bad = [m for m in sys.modules "
        "if m.split('.')[0] in ('axis', 'adapters', 'signing', 'httpx')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# The receiver


@pytest.fixture
def receiver(tmp_path: Path) -> PushReceiver:
    return PushReceiver(tmp_path / "inbox", SECRET)


async def _client(app: PushReceiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dms"
    ) as c:
        yield c


@pytest.fixture
async def client(receiver: PushReceiver) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(receiver):
        yield c


async def send(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> httpx.Response:
    return await client.post("/", content=body, headers=headers)


async def test_good_signature_is_stored(receiver: PushReceiver, client: httpx.AsyncClient) -> None:
    response = await send(client, *push("d-1"))
    assert response.status_code == 200
    assert response.json() == {"delivery_id": "d-1", "document_id": "doc-1", "duplicate": False}
    assert receiver.envelope_path("d-1").read_bytes() == ENVELOPE
    assert receiver.evidence_path("d-1").read_bytes() == EVIDENCE
    assert sorted(p.name for p in receiver.directory.iterdir()) == ["d-1.edxml", "d-1.evidence.xml"]
    assert receiver.stored() == ["d-1"]


async def test_bad_signature_is_401_and_stores_nothing(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    headers, body = push("d-1", secret="not the agency's secret")
    assert (await send(client, headers, body)).status_code == 401
    headers, body = push("d-1")
    assert (await send(client, headers, body + b"x")).status_code == 401
    del headers["X-Axis-Signature"]
    response = await send(client, headers, body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert list(receiver.directory.iterdir()) == []


async def test_a_repeated_delivery_is_stored_once(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    assert (await send(client, *push("d-1", attempt=1))).status_code == 200
    first = receiver.envelope_path("d-1").stat()
    repeat = await send(client, *push("d-1", attempt=2))
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert receiver.envelope_path("d-1").stat().st_mtime_ns == first.st_mtime_ns
    assert (await send(client, *push("d-2"))).json()["duplicate"] is False
    assert receiver.stored() == ["d-1", "d-2"]
    assert [(a.delivery_id, a.attempt, a.stored) for a in receiver.attempts] == [
        ("d-1", 1, True),
        ("d-1", 2, False),
        ("d-2", 1, True),
    ]


async def test_concurrent_repeats_store_once(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    answers = await asyncio.gather(*(send(client, *push("d-1", attempt=n)) for n in (1, 2, 3)))
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True]
    assert [a.stored for a in receiver.attempts].count(True) == 1


async def test_a_restarted_receiver_still_knows_what_it_stored(tmp_path: Path) -> None:
    async for c in _client(PushReceiver(tmp_path, SECRET)):
        await send(c, *push("d-1"))
    async for c in _client(PushReceiver(tmp_path, SECRET)):
        assert (await send(c, *push("d-1", attempt=2))).json()["duplicate"] is True


async def test_a_captured_push_replayed_under_another_delivery_id_is_refused(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    headers, body = push("d-1")
    assert (await send(client, headers, body)).status_code == 200
    replay = await send(client, {**headers, "X-Axis-Delivery-Id": "d-2"}, body)
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["title"] == "Bad signature"
    assert receiver.stored() == ["d-1"]


async def test_a_captured_push_replayed_later_is_refused(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    """A capture from six minutes ago, never delivered here: its signature is good, its
    timestamp is not (and cannot be changed without the secret)."""
    stale = int(time.time()) - MAX_CLOCK_SKEW_SECONDS - 60
    headers, body = push("d-1", timestamp=stale)
    answer = await send(client, headers, body)
    assert answer.status_code == 401
    assert answer.json()["title"] == "Timestamp out of range"
    assert "behind" in answer.json()["detail"]
    ahead = await send(client, *push("d-1", timestamp=int(time.time()) + 3600))
    assert ahead.status_code == 401
    moved = await send(client, {**headers, "X-Axis-Timestamp": str(int(time.time()))}, body)
    assert moved.status_code == 401 and moved.json()["title"] == "Bad signature"
    assert receiver.stored() == []


async def test_another_body_under_a_stored_delivery_id_is_refused(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    assert (await send(client, *push("d-1"))).status_code == 200
    other = await send(client, *push("d-1", attempt=2, evidence=b"<Evidence>other</Evidence>"))
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert receiver.evidence_path("d-1").read_bytes() == EVIDENCE
    assert [a.status for a in receiver.attempts] == [200, 409]


async def test_an_honest_repeat_is_accepted_and_stored_once(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    """The very same request twice (a proxy resending it) and a retry with a new boundary
    and timestamp: all 200, one delivery stored, once."""
    headers, body = push("d-1")
    answers = [await send(client, headers, body) for _ in range(2)]
    answers.append(await send(client, *push("d-1", attempt=2)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert [a.stored for a in receiver.attempts] == [True, False, False]
    assert sorted(p.name for p in receiver.directory.iterdir()) == ["d-1.edxml", "d-1.evidence.xml"]


async def test_faulty_receiver_fails_first(tmp_path: Path) -> None:
    receiver = FaultyReceiver(tmp_path, SECRET, fail_first=2)
    async for c in _client(receiver):
        statuses = [(await send(c, *push("d-1", attempt=n))).status_code for n in (1, 2, 3, 4)]
    assert statuses == [503, 503, 200, 200]
    assert [(a.attempt, a.status, a.stored) for a in receiver.attempts] == [
        (1, 503, False),
        (2, 503, False),
        (3, 200, True),
        (4, 200, False),
    ]
    assert receiver.stored() == ["d-1"]


async def test_faulty_receiver_can_ask_for_a_pause(tmp_path: Path) -> None:
    receiver = FaultyReceiver(tmp_path, SECRET, fail_first=1, fail_status=429, retry_after=7)
    async for c in _client(receiver):
        first = await send(c, *push("d-1"))
        second = await send(c, *push("d-1", attempt=2))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 200 and "Retry-After" not in second.headers


async def test_faulty_receiver_answers_slowly(tmp_path: Path) -> None:
    receiver = FaultyReceiver(tmp_path, SECRET, delay=0.2, delay_first=1)
    async for c in _client(receiver):
        started = time.monotonic()
        await send(c, *push("d-1"))
        slow = time.monotonic() - started
        started = time.monotonic()
        await send(c, *push("d-2"))
        fast = time.monotonic() - started
    assert slow >= 0.2 > fast


async def test_malformed_requests_are_400(
    receiver: PushReceiver, client: httpx.AsyncClient
) -> None:
    headers, body = push("d-1")
    timestamp = int(headers["X-Axis-Timestamp"])
    unsafe = {
        **headers,
        "X-Axis-Delivery-Id": "../escape",
        "X-Axis-Signature": request_signature(SECRET, "../escape", "doc-1", timestamp, body),
    }
    assert (await send(client, unsafe, body)).status_code == 400
    junk = b"<not multipart/>"
    timestamp = int(headers["X-Axis-Timestamp"])
    plain = {
        **headers,
        "Content-Type": "application/xml",
        "X-Axis-Signature": request_signature(SECRET, "d-1", "doc-1", timestamp, junk),
    }
    response = await send(client, plain, junk)
    assert response.status_code == 400 and "multipart/related" in response.json()["detail"]
    assert list(receiver.directory.iterdir()) == []
    assert (await client.get("/")).status_code == 405


async def test_oversized_body_is_413(tmp_path: Path) -> None:
    async for c in _client(PushReceiver(tmp_path, SECRET, max_body_bytes=100)):
        assert (await send(c, *push("d-1"))).status_code == 413


async def test_stored_delivery_verifies(
    receiver: PushReceiver, client: httpx.AsyncClient, keys: Keys
) -> None:
    """What the receiver keeps is what the sender signed plus the axis's transit record."""
    envelope, evidence = transit_delivery(keys)
    headers, body = build_push_request(envelope, evidence, "d-9", "doc-1", 1, SECRET)
    assert (await send(client, headers, body)).status_code == 200
    result = verify_delivery(
        receiver.load("d-9"),
        axis_certificate=keys.axis.certificate,
        sender_certificates={SENDER: [keys.ec.certificate]},
        trust=keys.trust,
    )
    assert result.message.document_id == full_document().document_id


def test_app_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AXIS_PUSH_SECRET", raising=False)
    monkeypatch.setenv("AXIS_PUSH_DIR", str(tmp_path / "in"))
    with pytest.raises(RuntimeError):
        app_from_environment()
    monkeypatch.setenv("AXIS_PUSH_SECRET", SECRET)
    assert app_from_environment().directory == tmp_path / "in"
