"""Engines, sessions, migrations and the readiness check, for SQLite and PostgreSQL alike.

SQLite (aiosqlite) is the zero-set-up default; PostgreSQL (asyncpg) is production. Both
get real transactions: on SQLite the sqlite3 module's "legacy" transaction handling (no
BEGIN before SELECT or DDL, SAVEPOINTs outside any transaction) is switched off and
SQLAlchemy emits `BEGIN IMMEDIATE` itself, so migrations are atomic, `begin_nested()`
works, and two writers queue on `busy_timeout` instead of failing with "database is locked"
when one upgrades a read transaction to a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from axis.hangs import within

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic environment ships inside the package, so an installed wheel can migrate."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another writer before giving up."""

SQLITE_READERS = 4
"""Connections of a SQLite database's reading pool (`reading_sessions`)."""


class _AiosqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, minus two hangs.

    In aiosqlite 0.22, `close()` after `stop()` (SQLAlchemy's terminate of a connection
    whose task was cancelled mid-query) queues a second stop behind the first, which the
    worker thread never reaches, and waits for it forever. Once stopping, the thread closes
    the SQLite connection itself.

    And both roll back before they close: sqlite3's `close()` of a connection whose cursor
    still holds a statement in progress (a task cancelled between `execute` and `fetchall`)
    leaves it open, a zombie, until that cursor is garbage-collected, with its transaction
    and the write lock held; the pool's next connection then waits out `busy_timeout`
    behind it (the shutdown hang of CI: the audit writer cancelled mid-transaction).
    """

    async def close(self) -> None:
        if not self._running:
            return
        if self._connection is not None:
            await self._execute(self._roll_back)  # type: ignore[no-untyped-call]
        await super().close()

    def stop(self) -> asyncio.Future[Any] | None:
        self._tx.put_nowait((None, self._roll_back))
        return super().stop()

    def _roll_back(self) -> None:
        """In the worker thread: end the transaction, if any, whatever else is open."""
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.rollback()


def _aiosqlite_creator(url: URL) -> Any:
    """An `async_creator` making `_AiosqliteConnection`s with the arguments SQLAlchemy's
    aiosqlite dialect would pass (and, as it does, a daemon worker thread)."""
    args, kwargs = url.get_dialect()().create_connect_args(url)

    async def connect() -> aiosqlite.Connection:
        connection = _AiosqliteConnection(partial(sqlite3.connect, *args, **kwargs), 64)
        connection._thread.daemon = True
        return await connection

    return connect


def _use_wal(cursor: Any) -> None:
    """Switch a new database to WAL. The switch needs the database to itself, and SQLite
    refuses it at once ("database is locked", no busy handler) while another connection
    holds it, as when several processes open a new file together: try again until the busy
    timeout, as any other statement would wait."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


# Any constant works: it only has to be the same in every process migrating one database.
_MIGRATION_LOCK_KEY = zlib.crc32(b"edoc-axis:alembic-migrate")


def _parse(url: str | URL) -> URL:
    return make_url(url) if isinstance(url, str) else url


def is_sqlite(url: str | URL) -> bool:
    """Whether `url` names a SQLite database (any driver)."""
    return _parse(url).get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(
    url: str | URL, *, echo: bool = False, pool_size: int | None = None, **kwargs: Any
) -> AsyncEngine:
    """An async engine for `url` (e.g. `Settings().resolved_database_url`).

    For PostgreSQL, `pool_size` connections stay open and as many again may be opened
    under a burst (`AXIS_DATABASE_POOL_SIZE`): SQLAlchemy's default, 5, had the API open and
    close a connection (a TLS attempt and a backend fork) for most requests once 16 were in
    flight. For SQLite it creates the parent directory of the database file and configures
    every new connection: WAL (readers do not block the writer), foreign keys enforced,
    `busy_timeout`, `synchronous=FULL` (a commit survives power loss, as the design's
    durability promises need), and transactions started by SQLAlchemy.
    """
    parsed = _parse(url)
    if pool_size is not None and not is_sqlite(parsed):
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", pool_size)
    return _create_engine(parsed, echo=echo, sqlite_foreign_keys=True, **kwargs)


def _create_engine(
    url: URL, *, echo: bool = False, sqlite_foreign_keys: bool, **kwargs: Any
) -> AsyncEngine:
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, echo=echo, **kwargs)

    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if path is not None:
        # SQLite has one writer at a time. One pooled connection makes every other request
        # wait in the pool's queue, in order, instead of in SQLite's busy handler, which
        # sleeps in growing steps (up to 100 ms) and so turns contention into long tails.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
    if url.get_driver_name() == "aiosqlite":
        kwargs.setdefault("async_creator", _aiosqlite_creator(url))
    engine = create_async_engine(url, echo=echo, **kwargs)
    on_disk = path is not None
    foreign_keys = "ON" if sqlite_foreign_keys else "OFF"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys = {foreign_keys}")
            if on_disk:
                _use_wal(cursor)
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so busy_timeout applies; a deferred BEGIN
        # that later writes can fail at once with SQLITE_BUSY when another writer committed.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@asynccontextmanager
async def reading_sessions(
    url: str | URL, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions for reading only, beside `sessions` (which write).

    Why: a SQLite database file has one pooled writing connection, and a read queued behind
    every write of every worker is how one busy agency slowed another's reads (and every
    token check) tenfold. WAL lets readers read a snapshot while the writer writes: here they
    get a pool of their own, `query_only`, with plain deferred transactions. A PostgreSQL
    pool already serves reads in parallel: there `sessions` themselves are given back.
    """
    parsed = _parse(url)
    if not is_sqlite(parsed) or _sqlite_file(parsed) is None:
        yield sessions
        return
    engine = create_async_engine(
        parsed,
        pool_size=SQLITE_READERS,
        max_overflow=0,
        async_creator=_aiosqlite_creator(parsed),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # as the writer's: SQLAlchemy's BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")  # deferred: a snapshot, never the write lock

    try:
        yield create_session_factory(engine)
    finally:
        await dispose(engine)


async def dispose(engine: AsyncEngine) -> None:
    """Close `engine`'s connections, within a bound: a close left pending (a connection whose
    task was cancelled mid-query) fails with every stack logged instead of hanging."""
    async with within(f"disposing the engine of {engine.url!r}"):
        await engine.dispose()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to `engine`.

    `expire_on_commit=False`: under asyncio an expired attribute cannot be reloaded
    implicitly, so objects stay readable after commit.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine, *, within_seconds: float = 5.0) -> None:
    """Readiness check: raise if the database cannot answer a query in `within_seconds`.

    Bounded by default, because a readiness probe that hangs is worse than one that fails.
    """
    async with asyncio.timeout(within_seconds), engine.connect() as connection:
        result = await connection.execute(text("SELECT 1"))
        if result.scalar_one() != 1:  # pragma: no cover - a database that cannot count
            raise RuntimeError("database answered SELECT 1 with something else")


def alembic_config(url: str | URL | None = None) -> Config:
    """The Alembic configuration of the packaged migrations (no alembic.ini needed).

    With `url`, `alembic` commands run without a connection (offline SQL, `history`) know
    which database they are about; `migrate` passes its own connection instead.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = _parse(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no Alembic migrations found in the package")
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def migrate(url: str | URL, revision: str = "head") -> None:
    """Upgrade the schema at `url` to `revision` (default: the newest), idempotently.

    Runs in one transaction, under a PostgreSQL advisory lock so that several processes
    starting together migrate once. On SQLite foreign keys are off while tables are
    rebuilt (batch mode would otherwise cascade or fail) and checked afterwards.
    """
    await _run_alembic(_parse(url), "upgrade", revision)


async def downgrade(url: str | URL, revision: str = "base") -> None:
    """Downgrade the schema at `url` to `revision` (default: no tables at all)."""
    await _run_alembic(_parse(url), "downgrade", revision)


async def _run_alembic(url: URL, direction: str, revision: str) -> None:
    engine = _create_engine(url, sqlite_foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await _lock_for_migration(connection)
            await connection.run_sync(_run_alembic_sync, direction, revision)
            if is_sqlite(url):
                await _check_sqlite_foreign_keys(connection)
    finally:
        await dispose(engine)


async def _lock_for_migration(connection: AsyncConnection) -> None:
    """Serialise concurrent migrations (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )


def _run_alembic_sync(connection: Connection, direction: str, revision: str) -> None:
    config = alembic_config()
    # env.py uses this connection (and its open transaction) instead of making its own.
    config.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def _check_sqlite_foreign_keys(connection: AsyncConnection) -> None:
    violations = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
    if violations:
        raise RuntimeError(f"migration left rows violating foreign keys: {violations[:10]!r}")
