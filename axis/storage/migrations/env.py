"""Alembic environment of the axis, packaged so an installed wheel can migrate.

Normally run through `axis.storage.migrate(url)`, which hands over an open connection in
`config.attributes["connection"]` and owns its transaction. Without one (the `alembic`
command line pointed at this directory) it connects to `sqlalchemy.url`, or else to the
configured axis database. Offline mode (`alembic upgrade head --sql`) prints the SQL for a
DBA to review.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from axis.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from axis.config import Settings

    return Settings().resolved_database_url


def run_migrations_offline() -> None:
    """Emit the migration SQL instead of running it."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on `connection`, inside its transaction if one is open."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can ALTER almost nothing: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_with_own_engine() -> None:
    """Command-line use: connect with the axis's own engine settings (SQLite pragmas)."""
    from axis.storage.database import create_engine

    engine = create_engine(_database_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        do_run_migrations(connection)
    else:
        asyncio.run(run_migrations_with_own_engine())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
