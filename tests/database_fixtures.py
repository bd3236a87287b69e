"""Tests that touch the database run on SQLite and on PostgreSQL via one `database_url` fixture.

PostgreSQL isolation: the shared `postgres_url` (tests/conftest.py) names one throwaway
database for the whole session, so each test here gets a database of its own, created on
that server for the test and dropped (WITH FORCE) after it. Where the role may not create
databases, the test falls back to the shared database with the axis tables and
`alembic_version` dropped before it starts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.storage import create_engine, migrate
from axis.storage.database import dispose

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


async def _create_database(server_url: URL) -> URL | None:
    """A new empty database next to `server_url`'s, or None if the role may not create one."""
    name = f"axis_storage_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
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

    server_url = make_url(request.getfixturevalue("postgres_url"))
    own = await _create_database(server_url)
    if own is None:
        await _drop_axis_tables(server_url)
        yield server_url.render_as_string(hide_password=False)
        await _drop_axis_tables(server_url)
        return
    try:
        yield own.render_as_string(hide_password=False)
    finally:
        assert own.database is not None
        await _drop_database(server_url, own.database)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await dispose(engine)
