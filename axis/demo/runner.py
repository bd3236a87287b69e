"""`axis demo`: the axis on its embedded defaults with a dozen sample agencies sending one
another documents, until Ctrl-C.

In order: the data dir (kept between runs, or `--reset`), the agencies' development
certificates, a listening socket per push endpoint, the axis (API and every worker, as
`axis serve`) on its port, the registration (`axis.demo.registration`), then the sample
agencies (`adapters.sample_agencies`) as a process of their own that imports nothing from
the axis, handed the plan file and the endpoints' sockets. While they run, a line every few
seconds says what was sent and delivered. SIGINT or SIGTERM stops the agencies first
(bounded, then killed), then the axis (bounded); the agencies also stop by themselves when
this process ends any other way (their standard input closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.api.header_deadline import with_header_deadline
from axis.app import create_app
from axis.config import Settings
from axis.demo.registration import DemoTokens, Directory, Endpoint, read_directory, register
from axis.events import Origin, publish_events
from axis.registry import RegistryRules
from axis.storage.models import Delivery, DeliveryState, Document, Status
from schemas.demo_plan import DemoPlan, SampleAgency, SampleDelivery
from schemas.files import write_atomically
from signing.devagencies import dev_agency_certificates
from signing.keys import certificate_pem

MARKER = ".axis-demo"
"""Marks a data dir as the demo's: `--reset` deletes no other directory."""
RETRY_DELAYS = (2.0, 4.0, 8.0, 15.0)
"""Short waits between attempts, so retries and the dead letter show within seconds."""
CHECKPOINT_SECONDS = 10.0
SUMMARY_SECONDS = 5.0
AGENCIES_STOP_SECONDS = 10.0
AXIS_STOP_SECONDS = 30.0
STARTUP_SECONDS = 60.0
DELIVERED = (DeliveryState.DELIVERED, DeliveryState.ACKED_DONE, DeliveryState.ACKED_FAIL)


class DemoError(Exception):
    """The demo cannot start as asked (the message says why)."""


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    port: int
    reset: bool
    documents_per_second: float


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the demo stops the agencies first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def prepare_data_dir(path: Path, *, reset: bool) -> Path:
    """The demo's data dir, emptied first with `reset`; a non-empty directory that is not a
    demo's is left alone (DemoError)."""
    if path.exists() and any(path.iterdir()) and not (path / MARKER).exists():
        raise DemoError(f"{path} is not empty and not a demo's data dir: choose another")
    if reset and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).touch()
    return path.resolve()


def demo_settings(data_dir: Path, port: int) -> Settings:
    """The embedded defaults, with what a demo on loopback needs: plain-http push endpoints
    on 127.0.0.1, quick retries, a checkpoint every few seconds, a quiet log."""
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        push_allow_insecure_hosts=["127.0.0.1"],
        retry_delays_seconds=RETRY_DELAYS,
        checkpoint_interval_seconds=CHECKPOINT_SECONDS,
    )


def _listen(port: int = 0) -> socket.socket:
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", port))
        listening.listen()
    except OSError as exc:
        listening.close()
        raise DemoError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    return listening


def open_endpoints(
    directory: Directory, settings: Settings
) -> tuple[dict[str, Endpoint], dict[str, socket.socket]]:
    """Where each agency receives, and the listening socket of each push endpoint."""
    endpoints: dict[str, Endpoint] = {}
    sockets: dict[str, socket.socket] = {}
    for agency in directory.agencies:
        if agency.delivery in (SampleDelivery.PUSH, SampleDelivery.FAILING_PUSH):
            sockets[agency.code] = listening = _listen()
            endpoints[agency.code] = Endpoint(
                url=f"http://127.0.0.1:{listening.getsockname()[1]}/",
                secret=secrets.token_urlsafe(24),
                folder=settings.data_dir / "agencies" / agency.code
                if agency.delivery is SampleDelivery.PUSH
                else None,
            )
        elif agency.delivery is SampleDelivery.FILE_DROP:
            folder = settings.resolved_file_drop_root / agency.code
            folder.mkdir(parents=True, exist_ok=True)
            endpoints[agency.code] = Endpoint(folder=folder)
        else:
            endpoints[agency.code] = Endpoint()
    return endpoints, sockets


async def start_axis(app: FastAPI, listening: socket.socket) -> tuple[_Server, asyncio.Task[None]]:
    """The axis serving on `listening`, once its lifespan has started (DemoError if not)."""
    settings: Settings = app.state.settings
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        http=with_header_deadline(settings.header_timeout_seconds),
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if serving.done() or time.monotonic() > deadline:
            server.should_exit = True
            raise DemoError("the axis did not start (the log above says why)")
        await asyncio.sleep(0.05)
    return server, serving


async def stop_axis(app: FastAPI, server: _Server, serving: asyncio.Task[None]) -> None:
    app.state.stopping.set()  # open consoles' live streams end now (as axis/server.py does)
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(serving), AXIS_STOP_SECONDS)
    except TimeoutError:
        server.force_exit = True
        await asyncio.wait_for(serving, 5.0)


def make_plan(
    settings: Settings,
    app: FastAPI,
    directory: Directory,
    endpoints: dict[str, Endpoint],
    sockets: dict[str, socket.socket],
    tokens: DemoTokens,
    documents_per_second: float,
) -> DemoPlan:
    identity = app.state.ingest.identity
    certificates = dev_agency_certificates(
        settings.dev_key_dir, [a.code for a in directory.agencies]
    )
    return DemoPlan(
        axis_url=f"http://127.0.0.1:{settings.port}",
        axis_certificate_pem=certificate_pem(identity.certificate).decode(),
        trust_roots_pem=b"".join(certificate_pem(c) for c in identity.trust.roots).decode(),
        dev_key_dir=settings.dev_key_dir,
        documents_per_second=documents_per_second,
        agencies=[
            SampleAgency(
                code=agency.code,
                name=agency.name,
                abbreviation=agency.abbreviation,
                place=agency.place,
                delivery=agency.delivery,
                token=tokens.agencies[agency.code],
                certificate_pem=certificate_pem(certificates[agency.code]).decode(),
                folder=endpoints[agency.code].folder,
                listen_fd=sockets[agency.code].fileno() if agency.code in sockets else None,
                push_secret=endpoints[agency.code].secret,
            )
            for agency in directory.agencies
        ],
        documents=directory.documents,
        signers=directory.signers,
    )


async def start_agencies(
    plan_file: Path, sockets: list[socket.socket]
) -> asyncio.subprocess.Process:
    """The sample agencies' process, in a session of its own (a terminal's Ctrl-C reaches
    the demo alone, which stops them in order); its standard input is our pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not the working directory's `adapters`, if it holds another checkout
        "-m",
        "adapters.sample_agencies",
        str(plan_file),
        stdin=asyncio.subprocess.PIPE,
        pass_fds=[s.fileno() for s in sockets],
        start_new_session=True,
    )


async def stop_agencies(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not ended in time; reaped either way."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), AGENCIES_STOP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass(frozen=True)
class Counts:
    documents: int
    statuses: int
    delivered: int
    retrying: int
    dead: int


async def count(sessions: async_sessionmaker[AsyncSession]) -> Counts:
    async with sessions() as session:
        documents = await session.scalar(select(func.count()).select_from(Document)) or 0
        statuses = await session.scalar(select(func.count()).select_from(Status)) or 0
        states = dict(
            (await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)))
            .tuples()
            .all()
        )
    return Counts(
        documents,
        statuses,
        delivered=sum(states.get(state, 0) for state in DELIVERED),
        retrying=states.get(DeliveryState.RETRYING, 0),
        dead=states.get(DeliveryState.DEAD, 0),
    )


def say(line: str) -> None:
    print(line, flush=True)


async def report_until(
    stop: asyncio.Event,
    sessions: async_sessionmaker[AsyncSession],
    agencies: asyncio.subprocess.Process,
    started: float,
) -> None:
    """A line every SUMMARY_SECONDS, and one when the first delivery of this run is made;
    DemoError if the sample agencies end on their own."""
    before = await count(sessions)
    first_seen = False
    last_line = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if agencies.returncode is not None:
            raise DemoError(f"the sample agencies ended (exit status {agencies.returncode})")
        now = await count(sessions)
        if not first_seen and now.delivered > before.delivered:
            first_seen = True
            say(f"first delivery {time.monotonic() - started:.1f} s after the demo started")
        if time.monotonic() - last_line >= SUMMARY_SECONDS:
            last_line = time.monotonic()
            say(
                f"[{time.monotonic() - started:5.0f} s] sent {now.documents} documents and "
                f"{now.statuses} statuses; deliveries: {now.delivered} delivered, "
                f"{now.retrying} retrying, {now.dead} dead letters"
            )


def announce(settings: Settings, tokens: DemoTokens, agencies: int) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    say(
        f"\nedoc-axis demo: {agencies} agencies on four levels are sending one another "
        f"documents (data in {settings.data_dir}).\n"
        f"  operator console:  {base}/ui/sign-in#token={tokens.operator}\n"
        f"  auditor pages:     {base}/ui/sign-in#token={tokens.auditor}\n"
        f"  API documentation: {base}/docs\n"
        "Ctrl-C stops everything.\n"
    )


async def run_demo(options: DemoOptions, origin: Origin) -> None:
    """Run the demo until SIGINT or SIGTERM; DemoError when it cannot start."""
    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    directory = read_directory()
    settings = demo_settings(prepare_data_dir(options.data_dir, reset=options.reset), options.port)
    codes = [agency.code for agency in directory.agencies]
    certificates = dev_agency_certificates(settings.dev_key_dir, codes)
    listening = _listen(options.port)
    endpoints, sockets = open_endpoints(directory, settings)
    app = create_app(settings)
    agencies: asyncio.subprocess.Process | None = None
    try:
        server, serving = await start_axis(app, listening)
        try:
            rules = RegistryRules.of(settings, app.state.ingest.identity)
            async with app.state.sessions.begin() as session:
                tokens, events = await register(
                    session, directory, endpoints, certificates, rules, origin
                )
                await publish_events(app.state.bus, events)
            plan = make_plan(
                settings, app, directory, endpoints, sockets, tokens, options.documents_per_second
            )
            plan_file = settings.data_dir / "demo-plan.json"
            write_atomically(plan_file, plan.model_dump_json(indent=2).encode(), mode=0o600)
            agencies = await start_agencies(plan_file, list(sockets.values()))
            for endpoint_socket in sockets.values():
                endpoint_socket.close()  # the agencies hold them now
            announce(settings, tokens, len(directory.agencies))
            await report_until(stop, app.state.readers, agencies, started)
            say("stopping the sample agencies and the axis...")
        finally:
            if agencies is not None:
                await stop_agencies(agencies)
            await stop_axis(app, server, serving)
    finally:
        listening.close()
        for endpoint_socket in sockets.values():
            endpoint_socket.close()
    say("stopped")
