"""The FastAPI application: wires settings, bus and database to the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from axis import __version__
from axis.api import agencies, health, metrics
from axis.api.problems import install_problem_handlers
from axis.bus.factory import create_bus
from axis.bus.topics import ensure_topics
from axis.config import Settings
from axis.storage.database import create_engine, create_session_factory, migrate


def create_app(settings: Settings | None = None) -> FastAPI:
    """The axis as an ASGI app; the bus and database open when it starts serving."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(settings.resolved_database_url)
        database = create_engine(settings.resolved_database_url)
        bus = create_bus(settings)
        await bus.start()
        try:
            await ensure_topics(bus, settings.bus_partitions)
            app.state.bus = bus
            app.state.database = database
            app.state.sessions = create_session_factory(database)
            yield
        finally:
            await bus.close()
            await database.dispose()

    app = FastAPI(title="edoc-axis", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(agencies.router)
    return app
