"""Tests that touch the database run on SQLite and on PostgreSQL via one `database_url` fixture
(an empty database) or `migrated_database_url` (one at the newest revision).

PostgreSQL isolation: the shared `postgres_url` (tests/conftest.py) names one throwaway
database for the whole session, so each test here gets a database of its own, created on
that server for the test and dropped (WITH FORCE) after it. Where the role may not create
databases, the test falls back to the shared database with the axis tables and
`alembic_version` dropped before it starts.

Migrating costs about a second a database, and most tests only need the result: the
session migrates one template per engine (a SQLite file, a PostgreSQL template database)
and a migrated database is a copy of it (the migrations themselves are tested on empty
databases in tests/storage/test_migrations.py).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.storage import create_engine, migrate
from axis.storage.database import dispose

T = TypeVar("T")

# Children before parents, so a plain DROP works without CASCADE surprises.
_AXIS_TABLES = (
    "audit_checkpoints",
    "audit_subtrees",
    "audit_entries",
    "deliveries",
    "statuses",
    "document_recipients",
    "api_tokens",
    "agency_certificates",
    "documents",
    "agencies",
    "alembic_version",
)


def asyncpg_dsn(url: URL) -> str:
    """A DSN asyncpg understands, from a SQLAlchemy `postgresql+asyncpg://` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to the end on a loop of its own, in another thread: a session fixture
    may be set up while a test's loop is running in this one."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def _create_database(server_url: URL, template: str = "template0") -> URL | None:
    """A new database next to `server_url`'s, a copy of `template` (empty by default), or
    None if the role may not create one."""
    name = f"axis_storage_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    except asyncpg.InsufficientPrivilegeError:
        return None
    finally:
        await connection.close()
    return server_url.set(database=name)


async def _drop_database(server_url: URL, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _drop_axis_tables(url: URL) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for table in _AXIS_TABLES:
            await connection.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    finally:
        await connection.close()


@asynccontextmanager
async def _postgres_database(
    request: pytest.FixtureRequest, *, migrated: bool
) -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own: empty, or a copy of the migrated template.
    Without the right to create databases, the server's database with the axis's tables
    dropped (and migrated again) before and after."""
    server_url = make_url(request.getfixturevalue("postgres_url"))
    template = request.getfixturevalue("postgres_template") if migrated else "template0"
    own = None if template is None else await _create_database(server_url, template)
    if own is None:
        await _drop_axis_tables(server_url)
        if migrated:
            await migrate(server_url)
        yield server_url.render_as_string(hide_password=False)
        await _drop_axis_tables(server_url)
        return
    try:
        yield own.render_as_string(hide_password=False)
    finally:
        assert own.database is not None
        await _drop_database(server_url, own.database)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own for this test, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        # A directory that does not exist yet: the engine must create it.
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'axis.sqlite3'}"
        return

    async with _postgres_database(request, migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file migrated to head, for `migrated_database_url` to copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "axis.sqlite3"
    _run_apart(migrate(f"sqlite+aiosqlite:///{path}"))
    assert not path.with_name(path.name + "-wal").exists(), "the WAL was not checkpointed"
    return path


@pytest.fixture
def migrated_data_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    """`tmp_path` as a data directory whose default SQLite database is already migrated."""
    shutil.copyfile(sqlite_template, tmp_path / "axis.sqlite3")
    return tmp_path


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> Iterator[str | None]:
    """A PostgreSQL database migrated to head, for `migrated_database_url` to clone
    (CREATE DATABASE ... TEMPLATE); None if the role may not create databases."""
    server_url = make_url(postgres_url)
    template = _run_apart(_create_database(server_url))
    if template is None:
        yield None
        return
    assert template.database is not None
    try:
        _run_apart(migrate(template.render_as_string(hide_password=False)))
        yield template.database
    finally:
        _run_apart(_drop_database(server_url, template.database))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A database of its own for this test, at the newest revision, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "axis.sqlite3"
        path.parent.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return

    async with _postgres_database(request, migrated=True) as url:
        yield url


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    engine = create_engine(migrated_database_url)
    try:
        yield engine
    finally:
        await dispose(engine)
