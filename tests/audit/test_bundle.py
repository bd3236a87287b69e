"""Export and offline verification of the audit log, on SQLite and PostgreSQL: an intact log
verifies whole and in ranges, and every kind of tampering, in the database or in the bundle
file, is caught at the position where it happened."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from axis.audit.bundle import BundleRangeError, bundle_lines, bundle_range
from axis.audit.checkpoints import Checkpointer
from axis.audit.entries import audit_entry
from axis.audit.merkle import leaf_hash
from axis.audit.verify import BundleVerifier, Report
from axis.audit.writer import append_events
from axis.bus import Record
from axis.events import Event
from axis.storage.database import create_session_factory
from axis.storage.models import AuditCheckpoint, AuditEntry
from schemas.events import RegistryRefused
from signing.checkpoints import Checkpoint, sign_checkpoint
from signing.devkeys import DevKeySet, load_or_create_dev_keys
from signing.keys import CertifiedKey
from signing.signer import Signer

ORIGIN = "edoc-axis/audit"
SIZE = 50
EVERY = 10


@dataclass
class Log:
    sessions: async_sessionmaker[AsyncSession]
    keys: DevKeySet

    async def export(
        self, start: int = 0, end: int | None = None, *, signed_only: bool = True
    ) -> list[bytes]:
        async with self.sessions() as session:
            span = await bundle_range(session, ORIGIN, start, end, signed_only=signed_only)
        return [line async for line in bundle_lines(self.sessions, span)]

    def verify(self, lines: list[bytes], *, live: bool = False) -> Report:
        verifier = BundleVerifier(self.keys.axis.certificate, allow_unsigned_tail=live)
        for line in lines:
            if not verifier.feed_line(line):
                break
        return verifier.finish()

    async def verify_database(self) -> Report:
        return self.verify(await self.export(signed_only=False), live=True)

    async def run(self, statement: Any) -> None:
        async with self.sessions.begin() as session:
            await session.execute(statement)


def _step(n: int) -> RegistryRefused:
    """The data of the `n`th test event."""
    return RegistryRefused(from_=None, action="test step", status=400, detail=str(n))


@pytest.fixture
async def log(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Log]:
    """50 events appended in batches of 5, a checkpoint signed every 10."""
    keys = load_or_create_dev_keys(tmp_path / "keys")
    sessions = create_session_factory(engine)
    checkpointer = Checkpointer(Signer(keys.axis), ORIGIN, EVERY, interval_seconds=3600)
    for batch in range(SIZE // 5):
        events = [Event.of(_step(5 * batch + n), actor="axis", document_id=None) for n in range(5)]
        records = [
            Record("events", 0, 5 * batch + n, None, e.encode()) for n, e in enumerate(events)
        ]
        await append_events(sessions, records)
        if (5 * batch + 5) % EVERY == 0:
            async with sessions.begin() as session:
                await checkpointer.checkpoint(session, 5 * batch + 5)
    yield Log(sessions, keys)


def _found(report: Report) -> tuple[int, str]:
    assert report.finding is not None, "the tampering went unnoticed"
    return report.finding.position, report.finding.reason


async def test_an_intact_log_verifies_whole_and_in_ranges(log: Log) -> None:
    whole = log.verify(await log.export())
    assert whole.ok, whole.finding
    assert (whole.entries, whole.checkpoints, whole.signed_size) == (SIZE, SIZE // EVERY, SIZE)

    middle = log.verify(await log.export(13, 37))  # the end comes down to checkpoint 30
    assert middle.ok, middle.finding
    assert (middle.start, middle.end, middle.entries, middle.checkpoints) == (13, 30, 17, 2)

    aligned = log.verify(await log.export(20))
    assert aligned.ok and aligned.entries == 30

    live = await log.verify_database()
    assert live.ok and live.unsigned == 0

    with pytest.raises(BundleRangeError):
        await log.export(0, 9)
    with pytest.raises(BundleRangeError):
        await log.export(SIZE)


async def test_entries_not_yet_signed_are_counted_on_the_live_store_only(log: Log) -> None:
    event = Event.of(_step(SIZE), actor="axis")
    await append_events(log.sessions, [Record("events", 0, SIZE, None, event.encode())])
    live = await log.verify_database()
    assert live.ok and live.unsigned == 1 and live.signed_size == SIZE
    bundle = await log.export()
    assert log.verify(bundle).ok  # the export stops at the last checkpoint


def _entry_bytes(position: int, **changes: Any) -> bytes:
    event = Event.of(_step(position), actor="axis").model_dump(mode="json")
    return audit_entry(position, event | changes)


async def _stored(log: Log, position: int) -> bytes:
    async with log.sessions() as session:
        entry = await session.scalar(
            select(AuditEntry.entry).where(AuditEntry.position == position)
        )
    assert entry is not None
    return entry


async def test_one_changed_byte_is_found_at_its_entry(log: Log) -> None:
    entry = await _stored(log, 23)
    changed = entry.replace(b"test step", b"test stop")
    await log.run(update(AuditEntry).where(AuditEntry.position == 23).values(entry=changed))
    assert _found(await log.verify_database()) == (
        23,
        "the entry's bytes do not match its leaf hash",
    )


async def test_a_changed_entry_with_its_leaf_hash_rewritten_fails_its_checkpoint(log: Log) -> None:
    changed = (await _stored(log, 23)).replace(b"test step", b"test stop")
    await log.run(
        update(AuditEntry)
        .where(AuditEntry.position == 23)
        .values(entry=changed, leaf_hash=leaf_hash(changed))
    )
    position, reason = _found(await log.verify_database())
    assert position == 20  # proven up to checkpoint 20; checkpoint 30 fails
    assert "entries 20 to 29 do not hash to the root checkpoint 30 signs" in reason


async def test_a_deleted_entry_is_found_missing(log: Log) -> None:
    await log.run(delete(AuditEntry).where(AuditEntry.position == 23))
    assert _found(await log.verify_database()) == (23, "entry 23 is missing (the next is 24)")


async def test_a_deleted_entry_with_the_rest_renumbered(log: Log) -> None:
    await log.run(delete(AuditEntry).where(AuditEntry.position == 23))
    for position in range(24, SIZE):
        await log.run(
            update(AuditEntry).where(AuditEntry.position == position).values(position=position - 1)
        )
    assert _found(await log.verify_database()) == (23, "the entry says it is entry 24")


async def test_two_reordered_entries(log: Log) -> None:
    for old, new in ((23, 10_000), (27, 23), (10_000, 27)):
        await log.run(update(AuditEntry).where(AuditEntry.position == old).values(position=new))
    assert _found(await log.verify_database()) == (23, "the entry says it is entry 27")


async def test_an_entry_forged_into_the_log(log: Log) -> None:
    """Inserted in the middle (the rest moved up, each entry rewritten to its new place, leaf
    hashes recomputed): only the checkpoint covering it can tell, and it does."""
    async with log.sessions.begin() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.position >= 25)
                .order_by(AuditEntry.position.desc())
            )
        )
        for row in rows:
            moved = audit_entry(row.position + 1, json.loads(row.entry)["event"])
            row.position, row.entry, row.leaf_hash = row.position + 1, moved, leaf_hash(moved)
            await session.flush()
        forged = _entry_bytes(25, type="document.accepted")
        session.add(
            AuditEntry(
                position=25,
                event_id="00000000-0000-4000-8000-000000000025",
                entry=forged,
                leaf_hash=leaf_hash(forged),
                event_type="document.accepted",
                at=rows[-1].at,
            )
        )
    position, reason = _found(await log.verify_database())
    assert position == 20 and "checkpoint 30" in reason


def _lines(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def _encode(lines: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(line).encode() for line in lines]


async def test_an_entry_appended_to_a_bundle_is_covered_by_no_checkpoint(log: Log) -> None:
    lines = _lines(await log.export())
    forged = _entry_bytes(SIZE)
    header, end = lines[0], lines[-1]
    header["to"], end["entries"] = SIZE + 1, SIZE + 1
    entry = {
        "type": "entry",
        "position": SIZE,
        "leaf_hash": base64.b64encode(leaf_hash(forged)).decode(),
        "entry": base64.b64encode(forged).decode(),
    }
    assert _found(log.verify(_encode([*lines[:-1], entry, end]))) == (
        SIZE,
        f"entries {SIZE} to {SIZE} are covered by no checkpoint",
    )


async def test_a_replaced_checkpoint(log: Log, tmp_path: Path) -> None:
    async with log.sessions() as session:
        stored = await session.get(AuditCheckpoint, 30)
        later = await session.get(AuditCheckpoint, 40)
    assert stored is not None and later is not None
    impostor: CertifiedKey = load_or_create_dev_keys(tmp_path / "impostor").axis
    forged = sign_checkpoint(Checkpoint(ORIGIN, 30, stored.root, stored.at), impostor, ORIGIN)
    await log.run(update(AuditCheckpoint).where(AuditCheckpoint.size == 30).values(note=forged))
    position, reason = _found(await log.verify_database())
    assert position == 30 and "no signature by edoc-axis/audit" in reason

    await log.run(update(AuditCheckpoint).where(AuditCheckpoint.size == 30).values(note=later.note))
    assert _found(await log.verify_database()) == (
        30,
        "checkpoint 30 signs edoc-axis/audit at 40",
    )


async def test_a_tampered_bundle_file(log: Log) -> None:
    lines = await log.export(13)
    assert _found(log.verify(lines[:-1]))[1] == "the bundle is cut short"
    assert _found(log.verify([*lines, lines[-1]]))[1].startswith("a 'end' line where")
    swapped = list(lines)
    swapped[3], swapped[4] = swapped[4], swapped[3]  # entries 13 and 14 (after the anchor)
    assert _found(log.verify(swapped)) == (13, "entry 13 is missing (the next is 14)")

    parsed = _lines(lines)
    frontier = parsed[1]
    first = base64.b64decode(frontier["hashes"][0])
    frontier["hashes"][0] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode()
    position, reason = _found(log.verify(_encode(parsed)))
    assert position == 13 and "checkpoint 20" in reason
    assert _found(log.verify([lines[0], b"{not json"]))[1] == "a line that is not JSON"
