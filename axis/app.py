"""The FastAPI application: wires settings, bus and database to the routers."""

from __future__ import annotations

import asyncio
import functools
import signal
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

import httpx
from fastapi import FastAPI
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from axis import __version__
from axis.api import agencies, audit, dead_letters, documents, health, inbox, metrics
from axis.api.admission import Admission
from axis.api.openapi import install_openapi
from axis.api.problems import install_problem_handlers
from axis.api.recent_tokens import RecentTokens
from axis.api.refusals import RefusalLog, summarise_forever
from axis.audit.checkpoints import Checkpointer
from axis.audit.writer import write_forever
from axis.bus.factory import create_bus
from axis.bus.topics import ensure_topics
from axis.config import Settings
from axis.console.api_docs import install_api_docs
from axis.console.figures import Figures
from axis.console.jobs import Jobs
from axis.console.live import Live
from axis.console.routes import install_console
from axis.hangs import within
from axis.pipeline.budget import ByteBudget
from axis.pipeline.ingest import Ingest
from axis.rate_limit import RateLimiter
from axis.storage.blobs import BlobStore
from axis.storage.database import (
    create_engine,
    create_session_factory,
    dispose,
    migrate,
    reading_sessions,
)
from axis.storage.space import DiskSpace
from axis.vdxp.router import vdxp_router
from axis.workers.context import WorkerContext
from axis.workers.run import background, running_workers
from signing.identity import AxisIdentity, load_axis_identity


def create_app(
    settings: Settings | None = None, *, workers: bool = True, migrated: bool = False
) -> FastAPI:
    """The axis as an ASGI app; the bus and database open when it starts serving (migrated
    first unless `migrated`), and with `workers` the router and delivery worker run in the
    same process."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        identity = configured_identity(settings)
        async with (
            connected(settings, migrated=migrated) as (context, database),
            reading_sessions(settings.resolved_database_url, context.sessions) as readers,
        ):
            app.state.bus = context.bus
            app.state.database = database
            app.state.sessions = context.sessions
            app.state.readers = readers
            app.state.blobs = context.blobs
            await context.blobs.remove_stale_temp_files()  # bodies a crash left half-received
            app.state.ingest = Ingest(
                sessions=context.sessions,
                readers=readers,
                bus=context.bus,
                blobs=context.blobs,
                identity=identity,
                limits=settings.envelope_limits,
                legacy_organ_codes=settings.legacy_organ_codes,
                registry_cache_seconds=settings.registry_cache_seconds,
            )
            summaries = summarise_forever(
                app.state.refusals, context.bus, settings.refusal_summary_seconds
            )
            app.state.live = Live(
                Figures(readers, context.bus), settings.console_sample_seconds, app.state.stopping
            )
            work = {
                "refusal-summaries": summaries,
                "console-samples": app.state.live.sample_forever(),
            }
            try:
                async with (
                    background(work),
                    every_worker(context, identity) if workers else nullcontext(),
                ):
                    yield
            finally:
                app.state.stopping.set()

    app = FastAPI(
        title="edoc-axis", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    # Set when the server begins to stop: long answers (the console's live streams) end.
    app.state.stopping = asyncio.Event()
    app.state.admission = Admission(
        RateLimiter(settings.agency_rate_per_second, settings.agency_rate_burst),
        settings.agency_max_in_flight,
        settings.admission_wait_seconds,
    )
    app.state.disk_space = DiskSpace.of(settings)
    app.state.body_budget = ByteBudget(settings.inflight_body_bytes)
    app.state.refusals = RefusalLog()
    app.state.recent_tokens = RecentTokens(settings.token_cache_seconds)
    app.state.jobs = Jobs()  # the console's bulk replays and test deliveries
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(agencies.router)
    app.include_router(documents.router)
    app.include_router(inbox.router)
    app.include_router(dead_letters.router)
    app.include_router(audit.router)
    app.include_router(vdxp_router(settings))
    install_openapi(app)
    install_api_docs(app)
    install_console(app)
    return app


@asynccontextmanager
async def connected(
    settings: Settings, *, migrated: bool = False
) -> AsyncIterator[tuple[WorkerContext, AsyncEngine]]:
    """The migrated database (already, with `migrated`), the started bus with its topics, the
    blob store and an HTTP client: what every process of the axis opens first and closes last."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not migrated:
        await migrate(settings.resolved_database_url)
    database = create_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    bus = create_bus(settings)
    await bus.start()
    try:
        await ensure_topics(bus, settings.bus_partitions)
        async with httpx.AsyncClient(verify=_tls_context()) as http:
            sessions = create_session_factory(database)
            blobs = BlobStore(settings.resolved_blob_dir)
            yield WorkerContext(bus, sessions, blobs, settings, http), database
    finally:
        try:
            async with within("closing the bus"):
                await bus.close()
        finally:
            await dispose(database)


async def prepare(settings: Settings) -> None:
    """The data dir, the development keys (when no key is configured), the database schema
    and the bus topics, made once before the processes of `axis serve --workers N` start:
    they must not race to make them."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configured_identity(settings)
    await migrate(settings.resolved_database_url)
    bus = create_bus(settings)
    await bus.start()
    try:
        await ensure_topics(bus, settings.bus_partitions)
    finally:
        await bus.close()


async def run_background_process(settings: Settings) -> None:
    """Every worker and the audit writer without the API until SIGINT or SIGTERM, then
    stopped in order: the background process of `axis serve --workers N`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with (
        connected(settings, migrated=True) as (context, _),
        every_worker(context, configured_identity(settings)),
    ):
        await stop.wait()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, made once per process: loading the CA bundle
    costs about 0.1 s of CPU, which every start of an app paid again (the tests start
    hundreds)."""
    return httpx.create_ssl_context()


async def run_worker_process(settings: Settings) -> None:
    """The workers alone, until interrupted: `axis worker`. Deliveries are counted where they
    happen, here, so with `AXIS_WORKER_METRICS_PORT` the process serves its own /metrics."""
    async with (
        connected(settings) as (context, _),
        running_workers(context),
        serving_metrics(settings.worker_metrics_port),
    ):
        await asyncio.Event().wait()


@asynccontextmanager
async def serving_metrics(port: int | None) -> AsyncIterator[None]:
    """Prometheus's own small HTTP server on `port` (all addresses) while the block runs."""
    if port is None:
        yield
        return
    server, thread = start_http_server(port)
    try:
        yield
    finally:
        await asyncio.to_thread(server.shutdown)
        await asyncio.to_thread(thread.join)


async def run_audit_writer(settings: Settings) -> None:
    """The audit writer alone, until interrupted: `axis audit-writer`."""
    async with connected(settings) as (context, _):
        writer = checkpointer(context, configured_identity(settings))
        await write_forever(context.bus, context.sessions, writer)


def configured_identity(settings: Settings) -> AxisIdentity:
    """The axis's signing key and trust roots as configured (development ones otherwise)."""
    return load_axis_identity(
        settings.dev_key_dir,
        key_file=settings.signing_key_file,
        certificate_file=settings.signing_certificate_file,
        key_password=settings.signing_key_password,
        trust_roots_file=settings.trust_roots_file,
    )


def checkpointer(context: WorkerContext, identity: AxisIdentity) -> Checkpointer:
    settings = context.settings
    return Checkpointer(
        identity.signer,
        settings.audit_origin,
        settings.checkpoint_every_entries,
        settings.checkpoint_interval_seconds,
        settings.tsa_url,
        context.http,
    )


@asynccontextmanager
async def every_worker(context: WorkerContext, identity: AxisIdentity) -> AsyncIterator[None]:
    """The router, delivery and retry workers and the audit writer, for `axis serve`."""
    writer = write_forever(context.bus, context.sessions, checkpointer(context, identity))
    async with running_workers(context), background({"audit-writer": writer}):
        yield
