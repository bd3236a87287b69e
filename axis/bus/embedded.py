"""The embedded bus: a durable, partitioned log with consumer groups in one SQLite file.

It is the zero-set-up default, so it keeps Kafka's promises on one machine:
- `publish_many` returns after a synchronous (fsynced) WAL commit; concurrent publishers
  share one commit (group commit), which is what makes it fast.
- Several processes may open the same file. Consumer group members heartbeat into the
  file; partitions are spread over the live members and each partition is owned by at most
  one member at a time (a member claims a partition only once its previous owner released
  it or stopped heartbeating), so a `kill -9`ed member's partitions move on after
  `session_timeout` and everything it had not committed is read again.
- With a `retention`, records older than it are pruned once every group that reads their
  topic (every group that ever committed on it) has committed past them: what some group
  has yet to process is kept whatever its age. A group that stops reading for good holds its
  topics' records until its `group_offsets` rows are deleted (the axis's own groups never
  stop). Pruning runs in small batches on the writer thread; the file is created with
  `auto_vacuum=INCREMENTAL`, so pruned pages go back to the file system.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from axis.bus.base import (
    Bus,
    BusError,
    Consumer,
    Headers,
    Message,
    PartitionLag,
    Position,
    Record,
    TopicPartition,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS partitions (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_position ON records (topic, partition, "offset");
CREATE TABLE IF NOT EXISTS group_members (
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    topics TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_owners (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    committed INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
"""

MAX_BATCH_MESSAGES = 2000
MAX_BATCH_BYTES = 16 * 1024 * 1024
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""A checkpoint cuts the write-ahead log back to this size (a big batch does not keep it big)."""
PRUNE_BATCH = 500
"""Records deleted per transaction: a publisher waits behind at most one such batch."""
PRUNE_INTERVAL_SECONDS = 60.0
"""How often pruning looks for records to delete (more often if the retention is shorter)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _encode_headers(headers: Headers) -> str:
    return json.dumps([[name, base64.b64encode(value).decode()] for name, value in headers])


def _decode_headers(text: str) -> Headers:
    return tuple((name, base64.b64decode(value)) for name, value in json.loads(text))


def partition_for_key(key: bytes, partitions: int) -> int:
    """Stable key -> partition mapping, so one key always keeps its order."""
    return zlib.crc32(key) % partitions


class _Connection:
    """One SQLite connection used from one dedicated thread."""

    def __init__(self, path: Path, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect only on a new file
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        self._conn = conn

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                self._open()
            assert self._conn is not None
            return work(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself on some errors (SQLITE_FULL)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


@dataclass
class _PendingBatch:
    messages: Sequence[Message]
    done: asyncio.Future[list[Position]]


class EmbeddedBus(Bus):
    """The bus in one SQLite file; see the module docstring for the guarantees."""

    engine = "embedded"

    def __init__(
        self,
        path: Path,
        *,
        session_timeout: float = 10.0,
        heartbeat_interval: float = 0.5,
        poll_interval: float = 0.05,
        retention: timedelta | None = None,
    ) -> None:
        self.path = path
        self.retention = retention
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.poll_interval = poll_interval
        self._writer = _Connection(path, "bus-writer")
        self._reader = _Connection(path, "bus-reader")
        self._partition_counts: dict[str, int] = {}
        self._round_robin = 0
        self._pending: asyncio.Queue[_PendingBatch] = asyncio.Queue()
        self._write_loop: asyncio.Task[None] | None = None
        self._prune_loop: asyncio.Task[None] | None = None
        self._published = asyncio.Event()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._writer.run(lambda conn: conn.executescript(SCHEMA))
        self._write_loop = asyncio.create_task(self._write_batches(), name="embedded-bus-writer")
        if self.retention is not None:
            self._prune_loop = asyncio.create_task(
                self._prune_forever(self.retention), name="embedded-bus-pruner"
            )

    async def close(self) -> None:
        if self._prune_loop is not None:
            self._prune_loop.cancel()
            await asyncio.wait({self._prune_loop})
            self._prune_loop = None
        if self._write_loop is not None:
            await self._pending.join()
            self._write_loop.cancel()
            self._write_loop = None
        await self._writer.close()
        await self._reader.close()

    async def ping(self) -> None:
        try:
            await self._reader.run(lambda conn: conn.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus at {self.path} does not answer: {exc}") from exc

    async def create_topic(self, topic: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("a topic needs at least one partition")

        def create(conn: sqlite3.Connection) -> None:
            exists = conn.execute("SELECT 1 FROM partitions WHERE topic = ?", (topic,)).fetchone()
            if not exists:
                conn.executemany(
                    "INSERT INTO partitions (topic, partition) VALUES (?, ?)",
                    [(topic, p) for p in range(partitions)],
                )

        await self._write(create)

    async def partition_count(self, topic: str) -> int:
        """Partitions of `topic`; raises `BusError` for an unknown topic."""
        count = self._partition_counts.get(topic)
        if count is None:
            row = await self._reader.run(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM partitions WHERE topic = ?", (topic,)
                ).fetchone()
            )
            count = int(row[0])
            if count == 0:
                raise BusError(f"unknown topic {topic!r}")
            self._partition_counts[topic] = count
        return count

    async def publish_many(self, messages: Sequence[Message]) -> list[Position]:
        if self._write_loop is None:
            raise BusError("the bus is not started")
        for message in messages:
            await self.partition_count(message.topic)
        done: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        await self._pending.put(_PendingBatch(messages, done))
        return await done

    async def _write_batches(self) -> None:
        """Commit everything queued so far in one transaction: group commit."""
        while True:
            batches = [await self._pending.get()]
            size = sum(len(m.value) for m in batches[0].messages)
            count = len(batches[0].messages)
            while not self._pending.empty() and count < MAX_BATCH_MESSAGES:
                if size >= MAX_BATCH_BYTES:
                    break
                batch = self._pending.get_nowait()
                batches.append(batch)
                size += sum(len(m.value) for m in batch.messages)
                count += len(batch.messages)
            try:
                rows = [[self._route(m) for m in batch.messages] for batch in batches]
                positions = await self._write(_append(rows))
            except Exception as exc:  # every waiting publisher learns of the failure
                for batch in batches:
                    if not batch.done.done():
                        error = BusError(f"publish failed: {exc}")
                        error.__cause__ = exc  # e.g. SQLITE_FULL: the answer says disk full
                        batch.done.set_exception(error)
            else:
                for batch, batch_positions in zip(batches, positions, strict=True):
                    if not batch.done.done():
                        batch.done.set_result(batch_positions)
                self._published.set()
                self._published = asyncio.Event()
            finally:
                for _ in batches:
                    self._pending.task_done()

    def _route(self, message: Message) -> tuple[Message, int]:
        partitions = self._partition_counts[message.topic]
        if message.key is None:
            self._round_robin += 1
            return message, self._round_robin % partitions
        return message, partition_for_key(message.key, partitions)

    async def wait_for_publish(self, max_wait: float) -> None:
        """Return when this process publishes something, or after `max_wait` seconds.

        `asyncio.wait`, which never cancels its caller, rather than `wait_for` or
        `asyncio.timeout`: on Python 3.11 both can swallow a cancel of the caller (`wait_for`
        when it lands as the publish does; `timeout` when it was already pending on entry and
        the deadline is already due), and the worker it was meant to stop runs on."""
        waiter = asyncio.ensure_future(self._published.wait())
        try:
            await asyncio.wait({waiter}, timeout=max_wait)
        finally:
            waiter.cancel()

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        return EmbeddedConsumer(self, group, list(topics))

    async def lag(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        def read(conn: sqlite3.Connection) -> list[PartitionLag]:
            marks = ",".join("?" * len(topics))
            rows = conn.execute(
                f"""SELECT p.topic, p.partition, o.committed, p.next_offset
                    FROM partitions p LEFT JOIN group_offsets o
                      ON o.group_id = ? AND o.topic = p.topic AND o.partition = p.partition
                    WHERE p.topic IN ({marks}) ORDER BY p.topic, p.partition""",
                (group, *topics),
            ).fetchall()
            return [PartitionLag(t, p, c, e) for t, p, c, e in rows]

        return await self._reader.run(read)

    # Used by EmbeddedConsumer; kept here so that consumers share the two connections.

    async def _fetch(self, positions: dict[TopicPartition, int], max_records: int) -> list[Record]:
        def read(conn: sqlite3.Connection) -> list[Record]:
            records: list[Record] = []
            for tp, offset in positions.items():
                rows = conn.execute(
                    """SELECT "offset", key, value, headers, timestamp_ms FROM records
                       WHERE topic = ? AND partition = ? AND "offset" >= ?
                       ORDER BY "offset" LIMIT ?""",
                    (tp.topic, tp.partition, offset, max_records - len(records)),
                ).fetchall()
                records.extend(
                    Record(tp.topic, tp.partition, o, k, v, _decode_headers(h), ts)
                    for o, k, v, h, ts in rows
                )
                if len(records) >= max_records:
                    break
            return records

        return await self._reader.run(read)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.run(lambda conn: _transaction(conn, work))

    async def prune(self, retention: timedelta) -> int:
        """Delete the records older than `retention` that every group reading their topic
        has committed; return how many. Batches of `PRUNE_BATCH`, one transaction each, so
        publishers are never held up long; then freed pages go back to the file system."""
        older_than_ms = _now_ms() - int(retention.total_seconds() * 1000)
        removed = 0
        for topic, partition, committed in await self._reader.run(_committed_by_every_group):
            delete = partial(_delete_batch, topic, partition, committed, older_than_ms)
            while True:
                deleted = await self._write(delete)
                removed += deleted
                if deleted < PRUNE_BATCH:
                    break
        if removed:
            # `executescript` steps the pragma to its end; `execute` frees one page.
            await self._writer.run(lambda conn: conn.executescript("PRAGMA incremental_vacuum"))
        return removed

    async def _prune_forever(self, retention: timedelta) -> None:
        interval = min(PRUNE_INTERVAL_SECONDS, retention.total_seconds())
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.prune(retention)
            except sqlite3.Error:
                logger.exception("pruning the embedded bus at %s failed", self.path)
            else:
                if removed:
                    logger.info("pruned %d records from the embedded bus", removed)


def _committed_by_every_group(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """Per partition, the lowest offset committed by the groups that read its topic (a group
    with no commit on one partition of a topic it reads counts as 0 there). Partitions of
    topics no group has committed on are absent: nothing of theirs may go."""
    return conn.execute(
        """SELECT p.topic, p.partition, min(coalesce(o.committed, 0)) AS committed
           FROM partitions p
           JOIN (SELECT DISTINCT group_id, topic FROM group_offsets) g ON g.topic = p.topic
           LEFT JOIN group_offsets o
             ON o.group_id = g.group_id AND o.topic = p.topic AND o.partition = p.partition
           GROUP BY p.topic, p.partition HAVING committed > 0"""
    ).fetchall()


def _delete_batch(
    topic: str, partition: int, below: int, older_than_ms: int, conn: sqlite3.Connection
) -> int:
    """Delete the old ones among the partition's oldest `PRUNE_BATCH` records below `below`:
    looking no further keeps each round cheap when the oldest records are still young."""
    return conn.execute(
        """DELETE FROM records WHERE rowid IN (
               SELECT rowid FROM records WHERE topic = ? AND partition = ? AND "offset" < ?
               ORDER BY "offset" LIMIT ?)
           AND timestamp_ms < ?""",
        (topic, partition, below, PRUNE_BATCH, older_than_ms),
    ).rowcount


def _append(
    batches: list[list[tuple[Message, int]]],
) -> Callable[[sqlite3.Connection], list[list[Position]]]:
    def append(conn: sqlite3.Connection) -> list[list[Position]]:
        now = _now_ms()
        result: list[list[Position]] = []
        for batch in batches:
            positions: list[Position] = []
            for message, partition in batch:
                (offset,) = conn.execute(
                    """UPDATE partitions SET next_offset = next_offset + 1
                       WHERE topic = ? AND partition = ? RETURNING next_offset - 1""",
                    (message.topic, partition),
                ).fetchone()
                conn.execute(
                    """INSERT INTO records
                       (topic, partition, "offset", key, value, headers, timestamp_ms)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (
                        message.topic,
                        partition,
                        offset,
                        message.key,
                        message.value,
                        _encode_headers(message.headers),
                        now,
                    ),
                )
                positions.append(Position(message.topic, partition, offset))
            result.append(positions)
        return result

    return append


def assign(
    members: dict[str, list[str]], partitions: dict[str, int]
) -> dict[str, set[TopicPartition]]:
    """Spread every partition of the subscribed topics over the members, round robin.

    Deterministic, so every member computes the same answer from the same membership.
    """
    result: dict[str, set[TopicPartition]] = {member: set() for member in members}
    turn = 0
    for topic in sorted(partitions):
        candidates = sorted(m for m, topics in members.items() if topic in topics)
        if not candidates:
            continue
        for partition in range(partitions[topic]):
            result[candidates[turn % len(candidates)]].add(TopicPartition(topic, partition))
            turn += 1
    return result


class EmbeddedConsumer(Consumer):
    """A consumer group member of the embedded bus."""

    def __init__(self, bus: EmbeddedBus, group: str, topics: list[str]) -> None:
        self._bus = bus
        self._group = group
        self._topics = topics
        self.member_id = uuid.uuid4().hex
        self._owned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._done: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._membership_changed = asyncio.Event()

    async def start(self) -> None:
        for topic in self._topics:
            await self._bus.partition_count(topic)
        await self._heartbeat()
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_forever(), name=f"bus-heartbeat-{self._group}"
        )

    async def stop(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        group, member = self._group, self.member_id

        def leave(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM group_owners WHERE group_id = ? AND member_id = ?", (group, member)
            )
            conn.execute(
                "DELETE FROM group_members WHERE group_id = ? AND member_id = ?", (group, member)
            )

        await self._bus._write(leave)
        self._owned.clear()
        self._positions.clear()

    def assignment(self) -> set[TopicPartition]:
        return set(self._owned)

    def pause(self, partition: TopicPartition) -> None:
        self._paused.add(partition)

    def resume(self, partition: TopicPartition) -> None:
        self._paused.discard(partition)

    async def getmany(self, max_wait: float = 1.0, max_records: int = 500) -> list[Record]:
        deadline = time.monotonic() + max_wait
        while True:
            fetchable = {
                tp: offset for tp, offset in self._positions.items() if tp not in self._paused
            }
            records = await self._bus._fetch(fetchable, max_records) if fetchable else []
            # Ownership may have moved while we read; hand out only what we still own.
            records = [r for r in records if r.topic_partition in self._positions]
            if records:
                for record in records:
                    self._positions[record.topic_partition] = record.offset + 1
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await self._bus.wait_for_publish(min(remaining, self._bus.poll_interval))

    async def commit(self, records: Iterable[Record] = ()) -> None:
        for record in records:
            tp = record.topic_partition
            self._done[tp] = max(self._done.get(tp, 0), record.offset + 1)
        done = dict(self._done)
        group, member = self._group, self.member_id

        def write(conn: sqlite3.Connection) -> None:
            _commit_owned(conn, group, member, done)

        await self._bus._write(write)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._bus.heartbeat_interval)
            try:
                await self._heartbeat()
            except sqlite3.Error:
                logger.exception("embedded bus heartbeat of %s failed", self.member_id)

    async def _heartbeat(self) -> None:
        """Renew membership, release partitions no longer ours, claim free ones."""
        group, member, topics = self._group, self.member_id, self._topics
        done = dict(self._done)
        session_ms = int(self._bus.session_timeout * 1000)

        def beat(conn: sqlite3.Connection) -> tuple[set[TopicPartition], dict[TopicPartition, int]]:
            now = _now_ms()
            conn.execute(
                """INSERT INTO group_members (group_id, member_id, topics, heartbeat_ms)
                   VALUES (?, ?, ?, ?) ON CONFLICT (group_id, member_id)
                   DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms""",
                (group, member, json.dumps(topics), now),
            )
            dead = [
                row[0]
                for row in conn.execute(
                    "SELECT member_id FROM group_members WHERE group_id = ? AND heartbeat_ms < ?",
                    (group, now - session_ms),
                )
            ]
            for dead_member in dead:
                conn.execute(
                    "DELETE FROM group_owners WHERE group_id = ? AND member_id = ?",
                    (group, dead_member),
                )
                conn.execute(
                    "DELETE FROM group_members WHERE group_id = ? AND member_id = ?",
                    (group, dead_member),
                )
            members = {
                m: json.loads(t)
                for m, t in conn.execute(
                    "SELECT member_id, topics FROM group_members WHERE group_id = ?", (group,)
                )
            }
            subscribed = sorted({t for ts in members.values() for t in ts})
            partitions = dict(
                conn.execute(
                    f"""SELECT topic, count(*) FROM partitions
                        WHERE topic IN ({",".join("?" * len(subscribed))}) GROUP BY topic""",
                    subscribed,
                ).fetchall()
            )
            wanted = assign(members, partitions)[member]
            owners = {
                TopicPartition(t, p): m
                for t, p, m in conn.execute(
                    "SELECT topic, partition, member_id FROM group_owners WHERE group_id = ?",
                    (group,),
                )
            }
            _commit_owned(conn, group, member, done)
            for tp, owner in owners.items():
                if owner == member and tp not in wanted:
                    conn.execute(
                        """DELETE FROM group_owners
                           WHERE group_id = ? AND topic = ? AND partition = ?""",
                        (group, tp.topic, tp.partition),
                    )
            for tp in wanted:
                if tp not in owners:
                    conn.execute(
                        """INSERT INTO group_owners (group_id, topic, partition, member_id)
                           VALUES (?, ?, ?, ?)""",
                        (group, tp.topic, tp.partition, member),
                    )
            owned = {tp for tp in wanted if owners.get(tp, member) == member}
            committed = {
                TopicPartition(t, p): c
                for t, p, c in conn.execute(
                    "SELECT topic, partition, committed FROM group_offsets WHERE group_id = ?",
                    (group,),
                )
            }
            return owned, committed

        owned, committed = await self._bus._write(beat)
        for tp in self._owned - owned:
            self._positions.pop(tp, None)
            self._done.pop(tp, None)
        for tp in owned - self._owned:
            self._positions[tp] = committed.get(tp, 0)
        self._owned = owned


def _commit_owned(
    conn: sqlite3.Connection, group: str, member: str, done: dict[TopicPartition, int]
) -> None:
    """Commit `done` offsets of the partitions `member` still owns; never move back."""
    for tp, offset in done.items():
        conn.execute(
            """INSERT INTO group_offsets (group_id, topic, partition, committed)
               SELECT ?, ?, ?, ? WHERE EXISTS (
                   SELECT 1 FROM group_owners
                   WHERE group_id = ? AND topic = ? AND partition = ? AND member_id = ?)
               ON CONFLICT (group_id, topic, partition)
               DO UPDATE SET committed = max(committed, excluded.committed)""",
            (group, tp.topic, tp.partition, offset, group, tp.topic, tp.partition, member),
        )
