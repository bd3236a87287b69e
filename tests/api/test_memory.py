"""What a document costs in memory, and the budget that bounds how many are in flight.

The peak-memory test runs a real `axis serve` process (embedded bus, SQLite) and reads its
peak RSS from /proc; `bench/memory.py` has the precise figures at several sizes and loads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from envelopes import document, with_attachment
from running_axis import RECIPIENT, SENDER, Axis, start_axis
from served_axis import register, served_axis

from axis.config import Settings
from signing.devkeys import load_or_create_dev_keys
from signing.xmldsig import sign_envelope

MB = 1024 * 1024


def kib(text: str) -> int:
    return int(text.split()[0]) * 1024


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of process `pid`, in bytes."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        name: kib(value)
        for name, _, value in (line.partition(":") for line in lines)
        if name in ("VmRSS", "VmHWM")
    }


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def large_document(settings: Settings, document_id: str, attachment_bytes: int) -> bytes:
    keys = load_or_create_dev_keys(settings.dev_key_dir, [SENDER, RECIPIENT])
    unsigned = with_attachment(document(SENDER, [RECIPIENT], document_id), attachment_bytes)
    return sign_envelope(unsigned, keys.agencies[SENDER])


def problem(response: httpx.Response) -> tuple[int, str]:
    """The status and the problem code (the last part of its `type`) of a refusal."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["type"].rpartition(":")[2]


@pytest.mark.timeout(300)
async def test_a_large_document_costs_about_twice_its_size(tmp_path: Path) -> None:
    """Peak RSS growth of the serving process for one ~48 MB document stays under 2.5 times
    the document (about 2 measured; it was 7.5 before the body was streamed to a file)."""
    settings = Settings(data_dir=tmp_path)
    _, tokens = await register(settings, [SENDER, RECIPIENT])
    warm = large_document(settings, "warm", 1 * MB)
    body = large_document(settings, "large", 35 * MB)
    assert 45 * MB < len(body) < 50 * MB
    headers = {"Authorization": f"Bearer {tokens[SENDER]}", "Content-Type": "application/xml"}
    with served_axis(tmp_path) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=120) as client:
            # The first document loads the schemas and warms every path.
            response = await client.post("/v1/documents", content=warm, headers=headers)
            assert response.status_code == 202, response.text
            reset_peak(served.pid)
            before = memory(served.pid)["VmRSS"]
            response = await client.post("/v1/documents", content=body, headers=headers)
            assert response.status_code == 202, response.text
            growth = memory(served.pid)["VmHWM"] - before
    ratio = growth / len(body)
    assert ratio < 2.5, f"peak RSS grew by {growth / MB:.0f} MB, {ratio:.2f}x the document"
    assert not list((tmp_path / "blobs").glob(".tmp-*")), "the received file was renamed"


@pytest.fixture
async def small_budget(tmp_path: Path, migrated_database_url: str) -> AsyncIterator[Axis]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=migrated_database_url,
        inflight_body_bytes=1 * MB,
        inflight_wait_seconds=0.2,
        agency_max_in_flight=2,  # both sends come from one agency
    )
    async for running in start_axis(settings):
        yield running


async def test_past_the_budget_a_send_waits_then_gets_503(small_budget: Axis) -> None:
    """The first send holds the whole budget while its body is still arriving; a second one
    waits AXIS_INFLIGHT_WAIT_SECONDS, gets 503 with Retry-After, and the first is accepted."""
    axis = small_budget
    keys = axis.keys.agencies
    first = sign_envelope(
        with_attachment(document(SENDER, [RECIPIENT], "first"), 2 * MB), keys[SENDER]
    )
    second = sign_envelope(document(SENDER, [RECIPIENT], "second"), keys[SENDER])
    half_sent = asyncio.Event()
    go_on = asyncio.Event()

    async def slowly() -> AsyncIterator[bytes]:
        yield first[: len(first) // 2]
        half_sent.set()
        await go_on.wait()
        yield first[len(first) // 2 :]

    headers = {"Authorization": f"Bearer {axis.tokens[SENDER]}"}
    sending = asyncio.create_task(
        axis.client.post(
            "/v1/documents",
            content=slowly(),
            headers={**headers, "Content-Type": "application/xml"},
        )
    )
    budget = axis.app.state.body_budget
    await asyncio.wait_for(half_sent.wait(), 10)
    assert budget.available == 0  # no Content-Length: it reserved the most it may be

    refused = await axis.send(SENDER, second)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert problem(refused) == (503, "busy")

    go_on.set()
    accepted = await asyncio.wait_for(sending, 60)
    assert accepted.status_code == 202, accepted.text
    assert budget.available == budget.capacity
    assert (await axis.send(SENDER, second)).status_code == 202  # room again


async def test_multipart_uploads_are_read_as_a_stream(axis: Axis, tmp_path: Path) -> None:
    """The file part goes to the spool; an upload with no file, two files, or a file past
    the limit is refused, and nothing received is left behind."""
    envelope = sign_envelope(document(SENDER, [RECIPIENT], "multipart"), axis.key(SENDER))
    headers = {"Authorization": f"Bearer {axis.tokens[SENDER]}"}

    async def upload(**parts: object) -> httpx.Response:
        return await axis.client.post("/v1/documents", headers=headers, **parts)  # type: ignore[arg-type]

    accepted = await upload(data={"note": "x"}, files={"file": ("doc.edxml", envelope)})
    assert accepted.status_code == 202, accepted.text
    no_file = await upload(files={"file": (None, "a field, not a file")})
    assert problem(no_file) == (400, "no_file")
    two = await upload(files=[("file", ("a.edxml", envelope)), ("file", ("b.edxml", envelope))])
    assert problem(two) == (400, "bad_multipart")
    limit = axis.app.state.ingest.limits.max_body_bytes
    big = await upload(files={"file": ("big.edxml", b"<" * (limit + 1))})
    assert problem(big) == (413, "too_large")
    blobs = axis.app.state.blobs.root
    assert not list(blobs.glob(".tmp-*"))
