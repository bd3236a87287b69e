"""A deployment of the axis as an operator runs it, for crash tests: `axis serve --only-api`
and `axis worker` as real processes configured by `AXIS_*` variables, one data directory,
one database and one bus (embedded SQLite file or Kafka), agencies registered beforehand,
push endpoints (`FaultyReceiver`) served on loopback by the test process itself.

Everything here waits on conditions with deadlines; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
import httpx
import pytest
from database_fixtures import asyncpg_dsn
from envelopes import document
from process_table import alive, descendants
from push_endpoint import FaultyReceiver, free_port
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.types import Receive, Scope, Send

from adapters.client import AgencyClient, AxisError, AxisUnreachable, SendResult
from axis.app import configured_identity
from axis.bus.factory import create_bus
from axis.bus.topics import EVENTS
from axis.config import Settings
from axis.credentials import create_token
from axis.registry import (
    AgencyRecord,
    CertificateRecord,
    RegistryRules,
    add_certificate,
    save_agencies,
)
from axis.storage.database import create_engine, create_session_factory, migrate
from axis.storage.models import AgencyLevel, Delivery, Document, Role
from schemas.push_format import DELIVERY_ID_HEADER
from signing.devkeys import DevKeySet, load_or_create_dev_keys
from signing.keys import certificate_pem
from signing.signer import Signer
from signing.xmldsig import sign_envelope

ROOT = Path(__file__).resolve().parents[2]
SENDER = "000.00.00.G22"
RETRY_DELAYS = "[0.2,0.3,0.4,0.5]"
PUSH_SECRET = "e2e-secret-shared-with-the-agency"
START_DEADLINE = 60.0
"""How long a process may take to answer /readyz (imports, migrations, Kafka topics)."""
T = TypeVar("T")
Engine = Literal["embedded", "kafka"]


async def wait_until(
    check: Callable[[], Awaitable[T | None]], what: str, deadline: float, *, every: float = 0.05
) -> T:
    """The first truthy result of `check`, polled every `every` s (50 ms) for at most
    `deadline` s."""
    end = time.monotonic() + deadline
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        await asyncio.sleep(every)


class RecordingReceiver(FaultyReceiver):
    """A `FaultyReceiver` that also notes the delivery id of every request when it arrives
    (its `attempts` are noted only when answered, which a slow endpoint does late)."""

    def __init__(self, directory: Path, *, delay: float = 0.0) -> None:
        super().__init__(directory, PUSH_SECRET, delay=delay)
        self.arrivals: list[str] = []
        self.answered_at: list[float] = []
        """When each request was answered (monotonic), for rates over time."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name.decode().lower(): value for name, value in scope["headers"]}
            delivery_id = headers.get(DELIVERY_ID_HEADER.lower(), b"").decode()
            self.arrivals.append(delivery_id)
        await super().__call__(scope, receive, send)
        if scope["type"] == "http":
            self.answered_at.append(time.monotonic())

    def stored_ids(self) -> set[str]:
        return set(self.stored())

    def attempts_per_delivery(self) -> Counter[str]:
        return Counter(a.delivery_id for a in self.attempts if a.delivery_id)


@dataclass
class AxisProcess:
    """One `python -m axis.cli ...` child and its log file."""

    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def kill_hard(self, *, with_children: bool = False) -> None:
        """`kill -9` it and wait until it is gone, and every process it had started too (the
        children of `axis serve` die of their parent's death a moment after it): a test
        that looks at what was committed before the kill looks once nothing can commit.
        `with_children`: `kill -9` them at the same moment, as a machine's crash does (their
        requests in flight die with them, not a moment later)."""
        below = descendants(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        for pid in below if with_children else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = await asyncio.wait_for(self.process.wait(), START_DEADLINE)
        assert code == -signal.SIGKILL, f"{self.name} exited with {code} before the kill"

        async def all_gone() -> bool:
            return not any(alive(pid) for pid in below)

        await wait_until(all_gone, f"the processes {self.name} had started gone", START_DEADLINE)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 10 s."""
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    """The axis's processes, their shared configuration and what the test registered."""

    engine: Engine
    root: Path
    database_url: str
    kafka_bootstrap: str | None = None
    namespace: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:12]}")
    port: int = field(default_factory=free_port)
    processes: list[AxisProcess] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    keys: DevKeySet | None = None
    extra_environment: dict[str, str] = field(default_factory=dict)
    """More AXIS_* settings for the processes (e.g. AXIS_BUS_PARTITIONS)."""

    @property
    def data_dir(self) -> Path:
        return self.root / "axis-data"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The child processes' environment: ours, minus any AXIS_* of the caller's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
        env |= {
            "PYTHONUNBUFFERED": "1",
            "AXIS_DATA_DIR": str(self.data_dir),
            "AXIS_DATABASE_URL": self.database_url,
            "AXIS_BUS": self.engine,
            "AXIS_TOPIC_NAMESPACE": self.namespace,
            "AXIS_PORT": str(self.port),
            "AXIS_RETRY_DELAYS_SECONDS": RETRY_DELAYS,
            "AXIS_AGENCY_RATE_PER_SECOND": "100000",
            "AXIS_AGENCY_RATE_BURST": "100000",
            "AXIS_LOG_LEVEL": "warning",
            "AXIS_PUSH_ALLOW_INSECURE_HOSTS": '["127.0.0.1"]',  # the test's push endpoints
        }
        if self.kafka_bootstrap is not None:
            env["AXIS_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        return env | self.extra_environment

    def settings(self) -> Settings:
        """The same configuration, for the test's own look at the bus and the database."""
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            bus=self.engine,
            kafka_bootstrap=self.kafka_bootstrap or "127.0.0.1:9092",
            topic_namespace=self.namespace,
            push_allow_insecure_hosts=["127.0.0.1"],
        )

    # Registration, before any process starts (what an operator does with `axis agencies`
    # and `axis tokens`, done in-process because five CLI runs cost seconds each).

    async def register(self, agencies: Sequence[AgencyRecord]) -> None:
        """Migrate; register the sender and `agencies`, certificates for all, and tokens for
        the sender and an operator. The development keys land in the data directory, where
        the API process finds the same CA and evidence key."""
        codes = [SENDER, *(record.code for record in agencies)]
        self.keys = await asyncio.to_thread(
            load_or_create_dev_keys, self.data_dir / "dev-keys", codes
        )
        await migrate(self.database_url)
        engine = create_engine(self.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                sender = AgencyRecord(code=SENDER, name="Sender", level=AgencyLevel.CENTRAL)
                settings = self.settings()
                rules = RegistryRules.of(settings, configured_identity(settings))
                await save_agencies(session, [sender, *agencies], rules)
                for code in codes:
                    pem = certificate_pem(self.keys.agencies[code].certificate).decode()
                    await add_certificate(session, code, CertificateRecord(pem=pem), rules)
                _, self.tokens[SENDER] = await create_token(session, Role.AGENCY, SENDER)
                _, self.tokens["operator"] = await create_token(session, Role.OPERATOR)
        finally:
            await engine.dispose()

    async def add_tokens(self, agencies: Iterable[str] = (), *, auditor: bool = False) -> None:
        """Tokens for `agencies` (a pull recipient's own) and, with `auditor`, an auditor's."""
        engine = create_engine(self.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                for code in agencies:
                    _, self.tokens[code] = await create_token(session, Role.AGENCY, code)
                if auditor:
                    _, self.tokens["auditor"] = await create_token(session, Role.AUDITOR)
        finally:
            await engine.dispose()

    # Processes

    async def _spawn(self, name: str, *arguments: str) -> AxisProcess:
        # The log files so far, not self.processes: two started at once both count it first.
        number = sum(1 for _ in self.root.glob(f"{name}-*.log")) + 1
        log = self.root / f"{name}-{number}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "axis.cli",
                *arguments,
                cwd=ROOT,
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
        child = AxisProcess(f"{name}-{number}", process, log)
        self.processes.append(child)
        return child

    async def start_api(self, port: int | None = None) -> AxisProcess:
        """`axis serve --only-api`, once it answers /readyz."""
        return await self.start_serve("--only-api", port=port)

    async def start_serve(
        self, *arguments: str, deadline: float = START_DEADLINE, port: int | None = None
    ) -> AxisProcess:
        """`axis serve [arguments]`, once it answers /readyz (within `deadline` s); on `port`
        rather than the deployment's (several API processes behind a load balancer)."""
        port = port or self.port
        api = await self._spawn("api", "serve", *arguments, "--port", str(port))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def ready() -> bool:
                assert api.running, f"{api.name} exited:\n{api.log_tail()}"
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, f"{api.name} ready", deadline)
        return api

    async def start_worker(self) -> AxisProcess:
        """`axis worker` (it has no probe: what it does shows at the receivers)."""
        return await self._spawn("worker", "worker")

    async def start_audit_writer(self) -> AxisProcess:
        """`axis audit-writer` (no probe either: what it does shows in `audit_entries`)."""
        return await self._spawn("audit-writer", "audit-writer")

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self.processes)

    # The agency side

    def client(self, agency: str = SENDER, timeout: float = 30.0) -> AgencyClient:
        assert self.keys is not None, "register() first"
        return AgencyClient(
            self.base_url,
            self.tokens[agency],
            Signer(self.keys.agencies[agency]),
            None,
            timeout=timeout,
        )

    async def sign_documents(self, recipients: list[str], prefix: str, count: int) -> list[bytes]:
        """`count` signed documents from the sender to `recipients`, DocumentIds
        `<prefix>,<n>`; signed in a thread (CPU work) before anything is sent."""
        assert self.keys is not None, "register() first"
        key = self.keys.agencies[SENDER]

        def sign_all() -> list[bytes]:
            return [
                sign_envelope(document(SENDER, recipients, f"{prefix},{n}"), key)
                for n in range(count)
            ]

        return await asyncio.to_thread(sign_all)

    # What the axis recorded

    async def recipient_views(self, document_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """GET /v1/documents/{id} as the sender: each recipient's delivery id and state."""
        views: dict[str, list[dict[str, Any]]] = {}
        headers = {"Authorization": f"Bearer {self.tokens[SENDER]}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30) as http:
            for document_id in document_ids:
                response = await http.get(f"/v1/documents/{document_id}")
                assert response.status_code == 200, response.text
                views[document_id] = list(response.json()["recipients"])
        return views

    async def delivery_states(self) -> dict[str, str]:
        """Every delivery's state, straight from the database (a snapshot)."""
        engine = create_engine(self.database_url)
        try:
            async with create_session_factory(engine)() as session:
                rows = await session.execute(select(Delivery.id, Delivery.state))
                return {delivery: state.value for delivery, state in rows}
        finally:
            await engine.dispose()

    async def deliveries(self) -> dict[str, tuple[str, str, str]]:
        """Every delivery, from the database: id -> (recipient, document id, state)."""
        engine = create_engine(self.database_url)
        try:
            async with create_session_factory(engine)() as session:
                query = select(
                    Delivery.id, Delivery.recipient_code, Delivery.document_id, Delivery.state
                )
                return {
                    delivery: (recipient, document, state.value)
                    for delivery, recipient, document, state in await session.execute(query)
                }
        finally:
            await engine.dispose()

    async def stored_documents(self) -> set[str]:
        """The ids of the documents the database holds (committed)."""
        engine = create_engine(self.database_url)
        try:
            async with create_session_factory(engine)() as session:
                return set(await session.scalars(select(Document.id)))
        finally:
            await engine.dispose()

    async def read_topic(self, topic: str, deadline: float = 30.0) -> list[dict[str, Any]]:
        """Every record of `topic` so far (JSON values), read through the bus by a new group."""
        bus = create_bus(self.settings())
        await bus.start()
        try:
            group = f"e2e-reader-{uuid.uuid4().hex[:8]}"
            ends = {lag.partition: lag.end_offset for lag in await bus.lag(group, [topic])}
            positions = dict.fromkeys(ends, 0)
            values: list[dict[str, Any]] = []
            end = time.monotonic() + deadline
            async with bus.consumer(group, [topic]) as consumer:
                while any(positions[p] < ends[p] for p in ends):
                    assert time.monotonic() < end, f"read {len(values)} of {topic}, wanted {ends}"
                    for record in await consumer.getmany(max_wait=0.5):
                        if record.offset < ends[record.partition]:
                            values.append(json.loads(record.value))
                        positions[record.partition] = max(
                            positions[record.partition], record.offset + 1
                        )
            return values
        finally:
            await bus.close()

    async def events(self, deadline: float = 30.0) -> list[dict[str, Any]]:
        """Every event on the events topic so far."""
        return await self.read_topic(EVENTS, deadline)


async def _own_postgres_database(server_url: str) -> tuple[str, str]:
    """A new empty database on the session's server: (its URL, its name)."""
    url = make_url(server_url)
    name = f"axis_e2e_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await connection.close()
    return url.set(database=name).render_as_string(hide_password=False), name


async def _drop_postgres_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(make_url(server_url)))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def deployment_on(
    request: pytest.FixtureRequest, tmp_path: Path, engine: Engine, bootstrap: str | None
) -> AsyncIterator[Deployment]:
    """A deployment on the embedded bus and SQLite, or on Kafka at `bootstrap` and a new
    PostgreSQL database of its own (dropped afterwards); its processes stop at the end."""
    server_url = None
    if engine == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'axis-data' / 'axis.sqlite3'}"
        deployment = Deployment("embedded", tmp_path, url)
    else:
        server_url = request.getfixturevalue("postgres_url")
        url, name = await _own_postgres_database(server_url)
        deployment = Deployment("kafka", tmp_path, url, kafka_bootstrap=bootstrap)
    try:
        yield deployment
    finally:
        await deployment.stop_all()
        print(deployment.logs())  # pytest shows it when the test failed
        if server_url is not None:
            await _drop_postgres_database(server_url, name)


Routing = dict[str, dict[str, str]]
"""recipient -> {delivery id: document id}."""


async def routed(
    deployment: Deployment,
    document_ids: Iterable[str],
    recipients: Sequence[str],
    deadline: float = 60,
) -> Routing:
    """Every delivery of `document_ids`, once the router has made them all (the sender's
    view shows a delivery id per recipient)."""
    document_ids = list(document_ids)

    async def made() -> Routing | None:
        found: Routing = {code: {} for code in recipients}
        for document_id, views in (await deployment.recipient_views(document_ids)).items():
            assert sorted(view["agency_code"] for view in views) == sorted(recipients)
            for view in views:
                if view["delivery_id"] is None:
                    return None
                found[view["agency_code"]][view["delivery_id"]] = document_id
        return found

    return await wait_until(made, "a delivery per recipient of every document", deadline)


async def wait_delivered(
    deployment: Deployment,
    receivers: Mapping[str, RecordingReceiver],
    expected: Routing,
    deadline: float = 60,
) -> None:
    """Until every push delivery is stored by its receiver and every delivery (push or
    pull) is in state `delivered`."""

    async def stored() -> bool:
        return all(expected[code].keys() <= r.stored_ids() for code, r in receivers.items())

    await wait_until(stored, "every push delivery stored by its recipient", deadline)
    everything = {d for deliveries in expected.values() for d in deliveries}

    async def delivered() -> bool:
        states = await deployment.delivery_states()
        return all(states.get(d) == "delivered" for d in everything)

    await wait_until(delivered, "every delivery in state delivered", deadline)


def check_stored(
    receivers: Mapping[str, RecordingReceiver], expected: Routing, sent: Mapping[str, bytes]
) -> None:
    """Each receiver stored exactly its deliveries, each the very bytes the sender sent."""
    for code, receiver in receivers.items():
        assert receiver.stored_ids() == set(expected[code]), f"{code} stored other deliveries"
        for delivery_id, document_id in expected[code].items():
            assert receiver.envelope_path(delivery_id).read_bytes() == sent[document_id]


def check_one_delivered_each(events: Iterable[dict[str, Any]], expected: Routing) -> int:
    """Exactly one `delivery.delivered` event id per delivery, none for anything else.
    Returns how many records repeated an event (same id: published again after a crash
    between publishing and committing; the audit writer keeps one entry per event id)."""
    delivered = delivered_events(events)
    assert set(delivered) == {d for deliveries in expected.values() for d in deliveries}
    twice = {d: ids for d, ids in delivered.items() if len(set(ids)) != 1}
    assert not twice, f"deliveries with more than one delivered event: {twice}"
    return sum(len(ids) - 1 for ids in delivered.values())


def delivered_events(events: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """delivery id -> the event ids of its `delivery.delivered` records, one per record."""
    found: dict[str, list[str]] = {}
    for event in events:
        if event["type"] == "delivery.delivered":
            found.setdefault(event["data"]["delivery_id"], []).append(event["id"])
    return found


def _delivered_to(code: str, delivery: dict[str, Any]) -> AgencyRecord:
    """An agency delivered to as `delivery` says, retried for up to an hour."""
    retry = {"max_attempts": 100, "max_age_seconds": 3600}
    return AgencyRecord.model_validate(
        {
            "code": code,
            "name": f"Agency {code}",
            "level": "province",
            "delivery": delivery | {"retry": retry},
        }
    )


def push_agency(code: str, url: str) -> AgencyRecord:
    push = {"kind": "push", "url": url, "secret": PUSH_SECRET, "timeout_seconds": 30}
    return _delivered_to(code, push)


def file_drop_agency(code: str, directory: Path) -> AgencyRecord:
    """An agency whose deliveries are written into `directory` (under the file-drop root)."""
    return _delivered_to(code, {"kind": "file_drop", "directory": str(directory)})


def pull_agency(code: str) -> AgencyRecord:
    return AgencyRecord(code=code, name=f"Agency {code}", level=AgencyLevel.PROVINCE)


@dataclass
class Outcome:
    """What a sender learnt about one envelope."""

    answers: list[SendResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def send_until_answered(
    client: AgencyClient, envelope: bytes, deadline: float, outcome: Outcome | None = None
) -> SendResult:
    """Send `envelope` again (the same bytes) on 503/429 or no answer, until it is answered
    202/200; every failure on the way is noted in `outcome`."""
    end = time.monotonic() + deadline
    while True:
        try:
            result = await client.send_document(envelope)
        except AxisError as error:
            assert error.retryable, f"refused for good: {error}"
            note = f"{error.status} {error.code}"
        except AxisUnreachable as error:
            note = f"unreachable: {error}"
        else:
            if outcome is not None:
                outcome.answers.append(result)
            return result
        if outcome is not None:
            outcome.failures.append(note)
        assert time.monotonic() < end, f"never accepted; last answer {note}"
        await asyncio.sleep(0.1)


async def axis_cli(*arguments: str, env: dict[str, str]) -> tuple[int, str]:
    """`python -m axis.cli ARGUMENTS` in `env`: its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "axis.cli", *arguments, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def haproxy_server(haproxy: Any, name: str) -> dict[str, str]:
    """HAProxy's `show stat` row for server `name` (deploy/haproxy/launcher.py's HAProxyNode)."""
    row: dict[str, str] = (await asyncio.to_thread(haproxy.servers))[name]
    return row


async def wait_haproxy_status(
    haproxy: Any, name: str, status: str, deadline: float = 30
) -> dict[str, str]:
    """HAProxy's row for `name` once its status is `status`."""

    async def reached() -> dict[str, str] | None:
        row = await haproxy_server(haproxy, name)
        return row if row["status"] == status else None

    return await wait_until(reached, f"{name} {status} in HAProxy", deadline, every=0.02)


def summary(title: str, values: dict[str, object]) -> None:
    """One line of figures, printed so that `pytest -s` (or a failure) shows them."""
    print(f"[e2e] {title}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
