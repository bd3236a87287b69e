"""Deliveries that fail, end to end on each bus and database: a file drop into a missing,
read-only or full folder retries, dies and is replayed like a push, while the other
recipient on the same partition is served; a replayed delivery gets its whole age
allowance again; an unknown delivery kind is refused, never taken as delivered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from push_endpoint import free_port
from running_axis import OTHER, RECIPIENT, Axis, axis_settings, start_axis
from sqlalchemy import select, update
from test_delivery import eventually, inbox
from test_push import push_to, send

from axis.bus.topics import DELIVERIES, EVENTS
from axis.delivery.worker import DELIVERY_GROUP
from axis.registry import RegistryError, read_agency_file
from axis.storage.models import Agency, Delivery, DeliveryState

ATTEMPTS = 3


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def axis(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_database_url: str
) -> AsyncIterator[Axis]:
    """One partition per topic, so the broken recipient's deliveries and the other
    recipient's share it: a stalled partition would hold up both."""
    settings = axis_settings(request, tmp_path, migrated_database_url)
    async for running in start_axis(settings.model_copy(update={"bus_partitions": 1})):
        yield running


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at `path` (root only: tests run as root, who ignores file modes)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextlib.contextmanager
def missing(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    folder = tmp_path / "not-mounted" / "drop"
    yield folder, lambda: folder.mkdir(parents=True)


@contextlib.contextmanager
def read_only(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    with tmpfs(tmp_path / "drop", "ro,size=1m") as folder:

        def repair() -> None:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)

        yield folder, repair


@contextlib.contextmanager
def full(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    with tmpfs(tmp_path / "drop", "size=64k") as folder:
        filler = folder / "filler"
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:  # until ENOSPC
                handle.write(b"\0" * 4096)
        yield folder, filler.unlink


BROKEN = {"missing": missing, "read-only": read_only, "full": full}
ERRORS = {"missing": "FileNotFoundError", "read-only": "Read-only", "full": "No space left"}


async def dead_letters(axis: Axis) -> list[dict[str, Any]]:
    response = await axis.request("GET", "/v1/admin/dead-letters", "operator")
    assert response.status_code == 200, response.text
    return list(response.json())


async def events(axis: Axis, delivery_id: str) -> list[str]:
    """The types of the events about one delivery, in order."""
    found: list[dict[str, Any]] = []
    async with axis.app.state.bus.consumer(f"check-{time.monotonic_ns()}", [EVENTS]) as consumer:
        while (batch := await consumer.getmany(max_wait=1.0)) or not found:
            found += [json.loads(record.value) for record in batch]
    return [e["type"] for e in found if e["data"].get("delivery_id") == delivery_id]


async def nothing_left(axis: Axis) -> bool:
    """Every request on the deliveries topic was handled and committed."""
    lags = await axis.app.state.bus.lag(DELIVERY_GROUP, [DELIVERIES])
    return bool(lags) and all(partition.lag == 0 for partition in lags)


@pytest.mark.parametrize("broken", list(BROKEN))
async def test_a_broken_drop_folder_retries_dies_and_holds_up_nobody(
    axis: Axis, tmp_path: Path, broken: str
) -> None:
    with BROKEN[broken](tmp_path) as (folder, repair):
        record = {
            "code": RECIPIENT,
            "name": "r",
            "level": "province",
            "delivery": {
                "kind": "file_drop",
                "directory": str(folder),
                "retry": {"max_attempts": ATTEMPTS},
            },
        }
        put = await axis.request("PUT", f"/v1/admin/agencies/{RECIPIENT}", "operator", json=record)
        assert put.status_code == 200, put.text
        document_id, body = await send(axis, f"{broken},1", [RECIPIENT])
        other_id, _ = await send(axis, f"{broken},2", [OTHER])

        [dead] = await eventually(lambda: dead_letters(axis), "the dead letter")
        assert (dead["document_id"], dead["attempts"]) == (document_id, ATTEMPTS)
        assert ERRORS[broken] in dead["last_error"]
        [entry] = await eventually(lambda: inbox(axis, OTHER), "the other recipient's delivery")
        assert entry["document_id"] == other_id
        await eventually(lambda: nothing_left(axis), "every delivery request committed")
        assert await events(axis, dead["delivery_id"]) == [
            "delivery.queued",
            *["delivery.attempted", "delivery.retrying"] * (ATTEMPTS - 1),
            "delivery.attempted",
            "delivery.dead",
        ]

        await asyncio.to_thread(repair)
        replayed = await axis.request(
            "POST", "/v1/admin/dead-letters/replay", "operator", json={"recipient": RECIPIENT}
        )
        assert replayed.json() == {"replayed": [dead["delivery_id"]]}
        dropped = folder / f"{dead['delivery_id']}.edxml"
        await eventually(lambda: asyncio.to_thread(dropped.exists), "the replayed file drop")
        assert dropped.read_bytes() == body


async def test_replay_restarts_the_age_clock(axis: Axis) -> None:
    """A delivery that died of age gets its whole allowance again when replayed: it keeps
    being tried, where the old clock would have made its first attempt its last."""
    await push_to(axis, f"http://127.0.0.1:{free_port()}/", max_attempts=1000)
    document_id, _ = await send(axis, "age,1", [RECIPIENT])

    async def attempted(times: int) -> Delivery | None:
        async with axis.app.state.sessions() as session:
            query = select(Delivery).where(Delivery.document_id == document_id)
            delivery = await session.scalar(query)
        if delivery is None:
            return None  # not routed yet
        assert delivery.state is not DeliveryState.DEAD, "dead at its first attempt"
        return delivery if delivery.attempts >= times else None

    first = await eventually(lambda: attempted(1), "a first failed attempt")
    # The delivery has now waited two hours: past its policy's age (one hour).
    async with axis.app.state.sessions.begin() as session:
        old = first.queued_at - timedelta(hours=2)
        await session.execute(
            update(Delivery).where(Delivery.id == first.id).values(queued_at=old, created_at=old)
        )
    [dead] = await eventually(lambda: dead_letters(axis), "the delivery dead of age")
    replayed = await axis.request(
        "POST", "/v1/admin/dead-letters/replay", "operator", json={"recipient": RECIPIENT}
    )
    assert replayed.json() == {"replayed": [dead["delivery_id"]]}
    again = await eventually(lambda: attempted(2), "two attempts after the replay")
    assert again.replays == 1


async def test_an_unknown_delivery_kind_is_refused(axis: Axis, tmp_path: Path) -> None:
    record = {"code": RECIPIENT, "name": "r", "level": "province"}
    record["delivery"] = {"kind": "carrier_pigeon"}  # type: ignore[assignment]
    put = await axis.request("PUT", f"/v1/admin/agencies/{RECIPIENT}", "operator", json=record)
    assert put.status_code == 422
    assert put.headers["content-type"] == "application/problem+json"
    assert "unknown delivery kind 'carrier_pigeon'" in put.text
    assert "file_drop" in put.text, "the refusal names the kinds there are"
    imported = tmp_path / "agencies.json"
    imported.write_text(json.dumps([record]))
    with pytest.raises(RegistryError, match="unknown delivery kind"):
        read_agency_file(imported)


async def test_a_stored_unknown_kind_is_a_dead_letter(axis: Axis) -> None:
    """A registration written before its kind was withdrawn (or by hand) is never taken as
    delivered: the delivery is a dead letter that says why."""
    async with axis.app.state.sessions.begin() as session:
        await session.execute(
            update(Agency).where(Agency.code == RECIPIENT).values(delivery={"kind": "fax"})
        )
    document_id, _ = await send(axis, "fax,1", [RECIPIENT, OTHER])
    [dead] = await eventually(lambda: dead_letters(axis), "the dead letter")
    assert dead["document_id"] == document_id
    assert "unknown delivery kind 'fax'" in dead["last_error"]
    assert [e["document_id"] for e in await inbox(axis, OTHER)] == [document_id]
    assert await inbox(axis, RECIPIENT) == []
