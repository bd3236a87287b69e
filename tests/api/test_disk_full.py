"""A data disk that fills up under load: the axis's data dir (blobs, SQLite, embedded bus)
on a real 64 MB tmpfs, eight senders at once until refusals start. Nothing acknowledged is
lost, nothing half-written is served, no 5xx but 503, and the axis accepts again by itself
once space returns; the embedded bus prunes what was delivered meanwhile.

Two ways to meet the full disk: the reserve (the space check refuses first), and no reserve
at all (writes fail with ENOSPC / SQLITE_FULL, which must end the same way). A disk short of
the reserve refuses sending only, and only callers who are who they say."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from envelopes import document
from running_axis import RECIPIENT, RETRY_DELAYS, SENDER, Axis, start_axis
from test_delivery import eventually, inbox
from test_delivery_failures import tmpfs

from axis.bus.topics import DOCUMENTS
from axis.config import Settings
from axis.problem import TYPE_PREFIX as PROBLEM
from axis.storage.blobs import TEMP_PREFIX, BlobStore
from axis.storage.space import free_bytes
from signing.xmldsig import sign_envelope

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
SENDERS = 8
PER_SENDER = 12
"""8 x 12 documents of half a MiB: more than the room left, so refusals must come."""
ROOM = 12 * MiB
"""Free space above the reserve when the senders start (a filler file takes the rest)."""
ATTACHMENT_BYTES = 384 * 1024


def big_document(axis: Axis, document_id: str) -> bytes:
    """A signed document to RECIPIENT whose attachment is `ATTACHMENT_BYTES` of noise."""
    sample = document(SENDER, [RECIPIENT], document_id)
    start = sample.index(b">", sample.index(b"<edXML:ContentTransferEncoded")) + 1
    end = sample.index(b"</edXML:ContentTransferEncoded>")
    noise = base64.b64encode(random.Random(document_id).randbytes(ATTACHMENT_BYTES))
    return sign_envelope(sample[:start] + noise + sample[end:], axis.key(SENDER))


@contextlib.asynccontextmanager
async def axis_on(data_dir: Path, reserve: int) -> AsyncIterator[Axis]:
    settings = Settings(
        data_dir=data_dir,
        bus_partitions=2,
        retry_delays_seconds=RETRY_DELAYS,
        checkpoint_every_entries=5,
        disk_reserve_bytes=reserve,
        bus_retention_hours=1 / 3600,  # a second: pruning runs all the time
    )
    async for running in start_axis(settings):
        yield running


def fill(data_dir: Path, leave: int) -> Path:
    """A filler file that leaves `leave` bytes free on the disk of `data_dir`."""
    filler = data_dir / "filler"
    with filler.open("wb") as handle:
        handle.truncate(0)
        left = free_bytes(data_dir) - leave
        while left > 0:
            chunk = min(left, MiB)
            handle.write(bytes(chunk))
            left -= chunk
        handle.flush()
        os.fsync(handle.fileno())
    return filler


async def sender(axis: Axis, number: int, answers: list[tuple[httpx.Response, bytes]]) -> None:
    """Send up to `PER_SENDER` documents, stopping at the first refusal."""
    for count in range(PER_SENDER):
        body = await asyncio.to_thread(big_document, axis, f"full-{number}-{count}")
        response = await axis.send(SENDER, body)
        answers.append((response, body))
        if response.status_code == 503:
            return


def check_refusal(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/problem+json", response.text
    assert int(response.headers["retry-after"]) > 0
    assert (response.json()["status"], response.json()["type"]) == (503, f"{PROBLEM}disk_full")


def nothing_half_written(blob_dir: Path) -> None:
    """No temporary file is left, and every blob is whole (its bytes hash to its name)."""
    assert list(blob_dir.glob(f"??/??/{TEMP_PREFIX}*")) == []
    store = BlobStore(blob_dir)
    for path in blob_dir.glob("??/??/*"):
        store.get_sync(path.name)  # raises if the bytes do not match


def bus_records(bus_file: Path, topic: str) -> int:
    with contextlib.closing(sqlite3.connect(bus_file, timeout=30)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM records WHERE topic = ?", (topic,)).fetchone()
    return int(count)


@pytest.mark.parametrize("reserve", [8 * MiB, 0], ids=["reserve", "enospc"])
async def test_a_full_disk_refuses_loses_nothing_and_recovers(tmp_path: Path, reserve: int) -> None:
    with tmpfs(tmp_path / "data", "size=64m") as data_dir:
        async with axis_on(data_dir, reserve) as axis:
            filler = await asyncio.to_thread(fill, data_dir, reserve + ROOM)
            answers: list[tuple[httpx.Response, bytes]] = []
            async with asyncio.TaskGroup() as senders:
                for number in range(SENDERS):
                    senders.create_task(sender(axis, number, answers))

            statuses = sorted({response.status_code for response, _ in answers})
            assert set(statuses) <= {202, 503}, [r.text for r, _ in answers if r.status_code >= 500]
            refused = [response for response, _ in answers if response.status_code == 503]
            assert refused, "the disk never filled up"
            for response in refused:
                check_refusal(response)
            accepted = {
                response.json()["document_id"]: body
                for response, body in answers
                if response.status_code == 202
            }
            assert len(accepted) >= ROOM // (2 * MiB), "too little was accepted before refusals"
            nothing_half_written(data_dir / "blobs")

            # Space returns: the axis accepts again, with no restart.
            await asyncio.to_thread(filler.unlink)
            body = await asyncio.to_thread(big_document, axis, "after-the-full-disk")

            async def sent_again() -> httpx.Response | None:
                response = await axis.send(SENDER, body)
                assert response.status_code in (202, 503), response.text
                return response if response.status_code == 202 else None

            again = await eventually(sent_again, "accepted again once space returned")
            accepted[again.json()["document_id"]] = body

            # Everything acknowledged is readable, whole, and delivered.
            for document_id, body in accepted.items():
                view = await axis.request("GET", f"/v1/documents/{document_id}", SENDER)
                assert view.status_code == 200, view.text
                assert view.json()["content_sha256"] == hashlib.sha256(body).hexdigest()

            async def all_delivered() -> list[dict[str, object]] | None:
                entries = await inbox(axis, RECIPIENT, "?limit=500")
                delivered = {entry["document_id"] for entry in entries}
                return entries if set(accepted) <= delivered else None

            for entry in await eventually(all_delivered, "every accepted document delivered"):
                downloaded = await axis.request(
                    "GET", f"/v1/inbox/{entry['delivery_id']}", RECIPIENT
                )
                assert downloaded.status_code == 200, downloaded.text
                assert downloaded.content == accepted[str(entry["document_id"])]
            nothing_half_written(data_dir / "blobs")

            # The router committed every accepted record, so the bus prunes them all.
            bus_file = data_dir / "bus.sqlite3"
            await eventually(
                lambda: asyncio.to_thread(lambda: bus_records(bus_file, DOCUMENTS) == 0),
                "the documents topic pruned",
            )


async def metric(axis: Axis, name: str) -> float:
    """The value of one unlabelled metric on `/metrics`."""
    text = (await axis.request("GET", "/metrics", None)).text
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(value)


async def test_a_short_disk_refuses_sending_only_and_after_authentication(
    tmp_path: Path,
) -> None:
    async with axis_on(tmp_path, reserve=free_bytes(tmp_path) + 2**40) as axis:
        refusals_before = await metric(axis, "axis_disk_full_refusals_total")
        body = await asyncio.to_thread(big_document, axis, "short")
        for path in ("/v1/documents", "/v1/statuses"):
            refused = await axis.send(SENDER, body, path)
            assert refused.status_code == 503, refused.text
            check_refusal(refused)
            anonymous = await axis.request("POST", path, None, content=body)
            assert anonymous.status_code == 401, anonymous.text
        listed = await axis.request("GET", "/v1/documents?direction=sent", SENDER)
        assert listed.status_code == 200, listed.text
        assert await metric(axis, "axis_disk_full_refusals_total") == refusals_before + 2
        free = await metric(axis, "axis_disk_free_bytes")
        assert 0 < free < axis.app.state.settings.disk_reserve_bytes
