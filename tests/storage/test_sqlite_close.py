"""Closing SQLite connections and engines ends, or fails fast with every stack logged."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from axis.hangs import within
from axis.storage.database import _aiosqlite_creator, create_engine, dispose


async def test_a_close_after_a_terminate_ends(tmp_path: Path) -> None:
    """SQLAlchemy's terminate of a cancelled connection stops its thread; a close after it
    used to wait forever on aiosqlite 0.22 (the report of a 300 s teardown hang)."""
    connect = _aiosqlite_creator(make_url(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}"))
    connection = await connect()
    stopped = connection.stop()
    async with asyncio.timeout(5):
        await connection.close()
        # The worker thread answers the stop on this loop: wait for it here, or it may
        # answer after the loop is closed ("Event loop is closed" in an aiosqlite thread).
        assert stopped is not None
        await stopped


async def test_engines_made_here_use_the_guarded_connection(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}")
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        raw = await connection.get_raw_connection()
        assert type(raw.driver_connection).__name__ == "_AiosqliteConnection"
    await dispose(engine)


async def test_a_step_past_its_bound_fails_with_the_stacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stuck_forever() -> None:
        await asyncio.Event().wait()

    stuck = asyncio.create_task(stuck_forever(), name="stuck-forever")
    with caplog.at_level(logging.ERROR, logger="axis.hangs"), pytest.raises(TimeoutError):
        async with within("waiting for the stuck task", seconds=0.1):
            await asyncio.wait([stuck])
    assert "waiting for the stuck task took over 0.1 s" in caplog.text
    assert "stuck_forever" in caplog.text
    stuck.cancel()


@pytest.mark.parametrize("ending", ["close", "stop"])
async def test_a_connection_closed_mid_query_lets_the_next_writer_in(
    tmp_path: Path, ending: str
) -> None:
    """A transaction whose cursor is still reading when its connection is closed (a task
    cancelled between execute and fetch) is rolled back: the write lock is not left with a
    zombie connection until the cursor is garbage-collected."""
    path = tmp_path / "c.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (x)")
        setup.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(10)])
    connection = await _aiosqlite_creator(make_url(f"sqlite+aiosqlite:///{path}"))()
    await connection.execute("BEGIN IMMEDIATE")
    reading = await connection.execute("SELECT x FROM t")  # stepped once, kept open
    if ending == "close":
        await connection.close()
    else:
        stopped = connection.stop()
        assert stopped is not None
        await stopped
    next_writer = sqlite3.connect(path, isolation_level=None, timeout=0.5)
    try:
        next_writer.execute("BEGIN IMMEDIATE")  # "database is locked" after 0.5 s if held
        next_writer.execute("ROLLBACK")
    finally:
        next_writer.close()
    del reading
