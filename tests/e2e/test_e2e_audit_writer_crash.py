"""`kill -9` of the audit writer (`axis audit-writer`) three times in the middle of its work,
then a writer that finishes: the audit log loses and duplicates nothing.

All the events are on the events topic before the first writer starts, so every writer reads
full batches of 1000 (one database transaction each, then the commit of their offsets). Each
writer but the last is killed once the log holds a given number of entries, in a given window
(found by stopping the writer with SIGSTOP until it is caught there, going on after a miss):

- `batch`: a batch's database transaction is open (on PostgreSQL: its entries are inserted
  and not committed; see `appending_batch` for SQLite); the kill rolls it back. This writer
  signs no checkpoints, so that its open transaction is a batch's.
- `replay`: a batch's entries are committed and its offsets are not; the next writer reads the
  batch again and must skip every event in it.
- `immediate`: as soon as the log holds that many entries, wherever the writer is.

Afterwards the log holds every published event exactly once, at the positions 0..N-1 without
a gap, every stored leaf hash is the hash of its stored entry, and every signed checkpoint
verifies with the axis certificate and names the root an offline `MerkleTree` over the stored
leaf hashes gives at its size. The entries' byte format is not looked at (beyond holding their
event's id): only `event_id`, `position` and `leaf_hash(entry)`.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import pytest
from e2e_support import AxisProcess, Deployment, summary, wait_until
from process_table import process_state
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from axis.audit.merkle import MerkleTree, leaf_hash
from axis.audit.writer import AUDIT_GROUP
from axis.bus import Bus
from axis.bus.factory import create_bus
from axis.bus.topics import EVENTS, ensure_topics
from axis.events import Event, event_message
from axis.storage.database import create_engine, is_sqlite
from axis.storage.models import AuditCheckpoint, AuditEntry
from schemas.events import DeliveryReplayed
from signing.checkpoints import verify_checkpoint

EVENTS_PUBLISHED = 20_000
PUBLISH_BATCH = 1000
Window = Literal["batch", "replay", "immediate"]
KILLS: tuple[tuple[int, Window], ...] = (
    (3_000, "batch"),
    (8_000, "replay"),
    (13_000, "immediate"),
)
"""(entries in the log, window) of each kill, one writer each."""
CHECKPOINT_EVERY = 1500
CHECKPOINT_INTERVAL = 2.0
NO_CHECKPOINTS = {
    "AXIS_CHECKPOINT_EVERY_ENTRIES": str(10**9),
    "AXIS_CHECKPOINT_INTERVAL_SECONDS": str(10**9),
}
"""For the writer killed in window `batch`: its only database transactions are then its
batches and its brief looks whether a checkpoint is due."""
KEY_NAME = "edoc-axis/audit"
"""The default AXIS_AUDIT_ORIGIN, which the writer also signs its checkpoints under."""
WRITER_DEADLINE = 45.0
"""A new writer's start (imports; the dead member's session timing out) and some batches."""


@dataclass
class Kill:
    """Where a writer was killed, and the log's size and the group's committed offset it
    left (exact: nothing runs between a kill and the next writer's start)."""

    window: Window
    entries: int
    committed_offset: int

    def __str__(self) -> str:
        return f"{self.window}@{self.entries}/{self.committed_offset}"


@pytest.fixture
async def database(deployment: Deployment) -> AsyncIterator[AsyncEngine]:
    """The test's own look at the deployment's database. On SQLite not through
    `axis.storage.database.create_engine`, whose every transaction is `BEGIN IMMEDIATE`: the
    test's reads would queue for the write lock behind the writer's batches (and see the log
    seconds late) and hold the writer up; a plain connection reads the WAL without a lock."""
    if is_sqlite(deployment.database_url):
        engine = create_async_engine(deployment.database_url)
    else:
        engine = create_engine(deployment.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def publish(bus: Bus, count: int) -> set[str]:
    """`count` events on the events topic, in batches; their ids."""
    ids: set[str] = set()
    for start in range(0, count, PUBLISH_BATCH):
        events = [
            Event.of(DeliveryReplayed(delivery_id=f"crash-{n}", after_attempts=n), actor="axis")
            for n in range(start, min(start + PUBLISH_BATCH, count))
        ]
        await bus.publish_many([event_message(event) for event in events])
        ids.update(event.id for event in events)
    assert len(ids) == count
    return ids


async def entry_count(database: AsyncEngine) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def committed_offset(bus: Bus) -> int:
    [lag] = await bus.lag(AUDIT_GROUP, [EVENTS])
    return lag.committed or 0


async def appending_batch(database: AsyncEngine) -> bool:
    """Whether the (stopped) writer is in the middle of appending a batch. On PostgreSQL
    exactly: another session holds a RowExclusiveLock on `audit_entries`, which it takes with
    its first INSERT and keeps until the transaction ends. On SQLite: the write lock is held
    (every transaction of the axis is `BEGIN IMMEDIATE`), which for a writer that signs no
    checkpoints is a batch being appended or, briefly, its look whether a checkpoint is due."""
    if database.dialect.name == "sqlite":
        path = database.url.database
        assert path is not None

        def locked() -> bool:
            connection = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as error:
                assert "locked" in str(error), error
                return True
            finally:
                connection.close()

        return await asyncio.to_thread(locked)
    async with database.connect() as connection:
        holders = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE relation = 'audit_entries'::regclass"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"
            )
        )
    return bool(holders)


async def kill_in(
    writer: AxisProcess, database: AsyncEngine, bus: Bus, level: int, window: Window
) -> Kill:
    """`kill -9` the writer once the log holds `level` entries, in `window`: for `batch` and
    `replay` the first time a SIGSTOP catches it there (it goes on after each miss)."""

    async def reached() -> bool:
        assert writer.running, f"{writer.name} exited:\n{writer.log_tail()}"
        return await entry_count(database) >= level

    await wait_until(reached, f"{level} audit entries", WRITER_DEADLINE, every=0.005)
    if window != "immediate":

        async def stopped() -> bool:
            """A SIGSTOP takes effect a moment after it is sent: until the kernel shows the
            writer stopped, it may still append or commit what is read next."""
            return process_state(writer.process.pid) == "T"

        async def caught() -> bool:
            assert writer.running, f"{writer.name} exited:\n{writer.log_tail()}"
            writer.process.send_signal(signal.SIGSTOP)
            await wait_until(stopped, f"{writer.name} stopped by SIGSTOP", 10, every=0.001)
            if window == "batch":
                found = await appending_batch(database)
            else:
                found = await committed_offset(bus) < await entry_count(database)
            if not found:
                writer.process.send_signal(signal.SIGCONT)
            return found

        await wait_until(caught, f"{writer.name} stopped in window {window}", 30, every=0.003)
    await writer.kill_hard()
    kill = Kill(window, await entry_count(database), await committed_offset(bus))
    assert kill.entries < EVENTS_PUBLISHED, f"{writer.name} finished before its kill"
    assert kill.committed_offset <= kill.entries, f"offsets committed before entries: {kill}"
    if window == "replay":
        assert kill.committed_offset < kill.entries, kill
    return kill


@pytest.mark.timeout(180)
async def test_audit_writer_killed_mid_batch(deployment: Deployment, database: AsyncEngine) -> None:
    started = time.monotonic()
    checkpoints_on = {
        "AXIS_CHECKPOINT_EVERY_ENTRIES": str(CHECKPOINT_EVERY),
        "AXIS_CHECKPOINT_INTERVAL_SECONDS": str(CHECKPOINT_INTERVAL),
    }
    await deployment.register([])  # migrations and the development keys (the axis's too)
    assert deployment.keys is not None
    certificate = deployment.keys.axis.certificate

    bus = create_bus(deployment.settings())
    await bus.start()
    try:
        await ensure_topics(bus, deployment.settings().bus_partitions)
        published = await publish(bus, EVENTS_PUBLISHED)
        publish_s = time.monotonic() - started

        kills = []
        for level, window in KILLS:
            deployment.extra_environment |= NO_CHECKPOINTS if window == "batch" else checkpoints_on
            writer = await deployment.start_audit_writer()
            kills.append(await kill_in(writer, database, bus, level, window))

        last_started = time.monotonic()
        deployment.extra_environment |= checkpoints_on
        writer = await deployment.start_audit_writer()

        async def all_written_and_checkpointed() -> int | None:
            """The topic's size, once the writer has committed all of it (so its entries are
            in the log) and signed a checkpoint of the whole log."""
            assert writer.running, f"{writer.name} exited:\n{writer.log_tail()}"
            [lag] = await bus.lag(AUDIT_GROUP, [EVENTS])
            if lag.lag:
                return None
            async with database.connect() as connection:
                size = await connection.scalar(select(func.max(AuditCheckpoint.size)))
            return lag.end_offset if size == await entry_count(database) else None

        on_topic = await wait_until(
            all_written_and_checkpointed,
            "every event written and a checkpoint of them",
            WRITER_DEADLINE + EVENTS_PUBLISHED / 1000,
        )
        finished_s = time.monotonic() - last_started
    finally:
        await bus.close()

    async with database.connect() as connection:
        entries = (
            await connection.execute(
                select(
                    AuditEntry.position,
                    AuditEntry.event_id,
                    AuditEntry.event_type,
                    AuditEntry.entry,
                    AuditEntry.leaf_hash,
                ).order_by(AuditEntry.position)
            )
        ).all()
        checkpoints = (
            await connection.execute(
                select(AuditCheckpoint.size, AuditCheckpoint.root, AuditCheckpoint.note).order_by(
                    AuditCheckpoint.size
                )
            )
        ).all()

    # Nothing lost, nothing twice, no gap: one entry per published event, positions 0..n-1.
    # (Events the test did not publish, if the set-up ever makes some, are in the log too.)
    repeated = {i: n for i, n in Counter(e.event_id for e in entries).items() if n > 1}
    assert not repeated, f"events in the log more than once: {list(repeated.items())[:5]}"
    ours = [e for e in entries if e.event_id in published]
    assert {e.event_id for e in ours} == published
    assert len(ours) == EVENTS_PUBLISHED
    assert EVENTS_PUBLISHED <= len(entries) <= on_topic
    assert [e.position for e in entries] == list(range(len(entries)))
    assert all(e.event_id.encode() in e.entry for e in entries), "an entry of another event"
    wrong_hash = [e.position for e in entries if e.leaf_hash != leaf_hash(e.entry)]
    assert not wrong_hash, f"leaf hashes not of their entries at {wrong_hash[:10]}"

    # Every checkpoint is signed by the axis and states the root of the stored leaves.
    tree = MerkleTree(e.leaf_hash for e in entries)
    assert len(checkpoints) >= EVENTS_PUBLISHED // CHECKPOINT_EVERY // 2, checkpoints
    for size, root, note in checkpoints:
        checkpoint = verify_checkpoint(note, certificate, KEY_NAME)
        assert (checkpoint.size, checkpoint.root) == (size, root)
        assert root == tree.root(size), f"the checkpoint at {size} is not of the stored log"

    summary(
        f"audit writer kill -9 [{deployment.engine}]",
        {
            "events": EVENTS_PUBLISHED,
            "others": len(entries) - EVENTS_PUBLISHED,
            "kills(window@entries/offset)": " ".join(map(str, kills)),
            "checkpoints": len(checkpoints),
            "publish_s": round(publish_s, 1),
            "last_writer_s": round(finished_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        },
    )
