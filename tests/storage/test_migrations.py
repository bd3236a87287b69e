"""Migrations: from empty to head (twice), down to nothing and back, models == migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.storage import (
    Base,
    create_engine,
    current_revision,
    downgrade,
    head_revision,
    migrate,
    ping,
)


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
        return set(names)
    finally:
        await engine.dispose()


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def test_migrate_from_empty_to_head_twice(database_url: str) -> None:
    assert await _revision(database_url) is None
    await migrate(database_url)
    assert await _revision(database_url) == head_revision()
    assert {"agencies", "documents", "alembic_version"} <= await _tables(database_url)

    await migrate(database_url)  # already at head: nothing to do, nothing breaks
    assert await _revision(database_url) == head_revision()


async def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    await migrate(database_url)
    await downgrade(database_url, "base")
    assert await _revision(database_url) is None
    assert not {"agencies", "documents"} & await _tables(database_url)

    await migrate(database_url)
    assert await _revision(database_url) == head_revision()
    assert {"agencies", "documents"} <= await _tables(database_url)


async def test_a_failing_migration_leaves_nothing_behind(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration runs in one transaction on both databases (SQLite too, whose driver would
    otherwise autocommit each CREATE TABLE): a failure half-way rolls all of it back."""
    import alembic.op

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure after the first CREATE TABLE")

    monkeypatch.setattr(alembic.op, "create_index", fail)
    with pytest.raises(RuntimeError, match="simulated failure"):
        await migrate(database_url)
    assert not {"agencies", "documents", "alembic_version"} & await _tables(database_url)

    monkeypatch.undo()
    await migrate(database_url)
    assert await _revision(database_url) == head_revision()


async def test_concurrent_migrations_run_once(database_url: str) -> None:
    """Several processes starting at once (replicas) must not trip over each other."""
    await asyncio.gather(*(migrate(database_url) for _ in range(4)))
    assert await _revision(database_url) == head_revision()


async def test_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_ping(engine: AsyncEngine) -> None:
    await ping(engine)


async def test_ping_raises_when_the_database_is_unreachable(tmp_path: Path) -> None:
    unreachable = create_engine("postgresql+asyncpg://axis@127.0.0.1:1/axis")
    try:
        with pytest.raises((OSError, OperationalError, TimeoutError)):
            await ping(unreachable, within_seconds=5)
    finally:
        await unreachable.dispose()


async def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "axis.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await engine.dispose()
    assert path.is_file()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10_000,
        "synchronous": 2,  # FULL
    }
