"""End-to-end push delivery through the axis on real Kafka: deliveries per second at
saturation, submit-to-delivered latency at half that load, and the axis's CPU per document.

    python bench/delivery.py [--duration 60] [--warmup 5] [--recipients 1,10]
                             [--size 20000] [--in-flight 16] [--backlog 512]
                             [--kafka HOST:PORT] [--database-url URL]
                             [--receiver-dir DIR] [--audit-writer]
                             [--floor-duration 10] [--json PATH] [--plot PATH]
                             [--profile DIR]

The axis runs as it would behind a load balancer: `axis serve --only-api` and one
`axis worker` (and, with `--audit-writer`, one `axis audit-writer`), each its own process,
fresh for each recipient count, on Kafka (a local broker started with
deploy/kafka/launcher.py unless `--kafka` names one) and SQLite (or `--database-url`, e.g.
`postgresql+asyncpg://...`; that database is shared by the rows and kept). Every recipient
is a push agency: an `adapters.receiver.PushReceiver` per recipient, each on its own path,
all in one separate uvicorn process on loopback, so the agencies' CPU is not counted as
the axis's; their folders are on tmpfs where there is one (`--receiver-dir`), so their
fsyncs do not queue behind the axis's on the same disk. That process logs one line per
delivery stored (CLOCK_MONOTONIC when it answered 200 after storing, its path, the
delivery id and the `X-Axis-Document-Id` it was given): that is when it was "delivered".

For each recipient count, with documents of about `--size` bytes signed beforehand (on
every core: signing is the sending agency's cost):

1. saturation: `--in-flight` requests are kept in flight (a closed loop); senders also
   wait while more than `--backlog` deliveries are accepted but not yet stored, so the
   axis runs at the rate it can sustain end to end instead of piling up a backlog that the
   API's CPU feeds. After `--warmup` s, the deliveries stored in `--duration` s are
   counted. A 5 s run before it sizes how many envelopes to sign.
2. latency: documents are sent open-loop, one every 1/rate s whatever the answers, at half
   the saturated document rate for `--duration` s; latency runs from each document's
   scheduled send time to the receiver's stored time, per delivery (and to the last
   recipient's, per document).
3. CPU: utime+stime of the axis's processes (from /proc/<pid>/stat) over the saturation
   window and from the first send to the last delivery at half load, per document. Also
   shown, not counted: the receivers, Kafka, the load generator, and the rest of the
   machine (busy time from /proc/stat that none of those account for: other work, and
   PostgreSQL's own processes).

With several `--in-flight` values (1,4,16,64) step 1 runs once per value (throughput
against clients); the best rate is the saturated one, which step 2 halves. Then, the axis
stopped, the floors (bench/floors.py): a bare FastAPI process driven at each `--in-flight`
for `--floor-duration` s, and parse + verify + one evidence signature in a loop; each row's
documents/s and CPU per document are printed as ratios to both. `--json` writes the
figures, `--plot` draws them (bench/plot.py), `--profile DIR` records the axis's processes
with py-spy in the saturated window of the highest `--in-flight` and prints their top
entries (bench/profiles.py).

Every wait has a deadline; every process started is stopped on the way out, errors too
(and killed with the bench if it is killed: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bus_publish import load_launcher  # noqa: E402
from envelopes import document  # noqa: E402
from floors import Floor, closed_loop_rate, crypto_floor, floor_command, floor_line, ratios  # noqa: E402
from ingest import cpu_seconds, free_port, register_agencies  # noqa: E402
from plot import Figures, Latency, Series, plot  # noqa: E402
from profiles import Profiler  # noqa: E402

from adapters.receiver import PushReceiver  # noqa: E402
from axis.config import Settings  # noqa: E402
from axis.delivery.adapters.push import PushDelivery  # noqa: E402
from axis.registry import AgencyRecord  # noqa: E402
from axis.storage.models import AgencyLevel  # noqa: E402
from signing.devkeys import load_or_create_dev_keys  # noqa: E402
from signing.keys import CertifiedKey, certificate_pem  # noqa: E402
from signing.xmldsig import sign_envelope  # noqa: E402

SENDER = "000.00.00.G22"
SECRET_ENV = "BENCH_PUSH_SECRET"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PADDING = "Nội dung văn bản. "
SIGN_CHUNK = 250

READY_SECONDS = 60.0
"""Longest wait for a process to answer, or for the first documents to be delivered."""
DRAIN_SECONDS = 180.0
"""Longest wait for everything accepted in a phase to be delivered."""
SEND_GRACE_SECONDS = 60.0
"""Longest a phase's requests may still be running once its schedule is over."""
PROBE_SECONDS = 4.0
"""Length of the short saturated run that sizes the real one (after 1 s of warm-up)."""
MAX_DOCUMENTS = 200_000
"""Most envelopes signed for one phase."""
FLOOR_BODIES = 100
"""Envelopes the floors cycle over (the framework floor only reads them)."""


def clock() -> float:
    """CLOCK_MONOTONIC: one clock for every process on the machine (the receiver's too)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def recipient_code(number: int) -> str:
    return f"000.00.00.H{number:02d}"


def receiver_path(number: int) -> str:
    return f"/r{number:02d}"


# --------------------------------------------------------------------------- receiver process


class RecordingReceivers:
    """One PushReceiver per path, and a log line per delivery stored (not for repeats)."""

    def __init__(self, receivers: dict[str, PushReceiver], log_path: Path) -> None:
        self.receivers = receivers
        self.log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        receiver = self.receivers.get(scope["path"])
        if receiver is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        status = 0
        answered = 0.0
        body: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], clock()  # after the files were stored
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
            await send(message)

        await receiver(scope, receive, capture)  # type: ignore[arg-type]
        if status == 200:
            answer = json.loads(b"".join(body))
            if not answer["duplicate"]:
                line = f"{answered:.6f} {scope['path']} {answer['delivery_id']} "
                os.write(self.log, f"{line}{answer['document_id']}\n".encode())


def serve_receivers(directory: Path, port: int, count: int, log_path: Path) -> None:
    """The receiver process: `count` push endpoints on 127.0.0.1:`port`, until terminated."""
    import uvicorn

    secret = os.environ[SECRET_ENV]
    receivers = {
        receiver_path(n): PushReceiver(
            directory / receiver_path(n).strip("/"), secret, path=receiver_path(n)
        )
        for n in range(1, count + 1)
    }
    app = RecordingReceivers(receivers, log_path)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )


@dataclass(frozen=True)
class Stored:
    """One delivery as the receiver process logged it."""

    at: float
    path: str
    delivery_id: str
    document_id: str


class DeliveryLog:
    """The receiver process's log, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Stored] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            at, path, delivery_id, document_id = line.decode().split(" ")
            self.records.append(Stored(float(at), path, delivery_id, document_id))

    def count(self) -> int:
        return len(self.records)

    def between(self, start: float, end: float, since: int = 0) -> int:
        return sum(1 for record in self.records[since:] if start <= record.at <= end)


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the bench dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Processes:
    """Every process the bench started, so all of them are stopped on the way out."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.started.append((process, log))
        return process

    def tail(self, process: subprocess.Popen[bytes], lines: int = 30) -> str:
        for started, log in self.started:
            if started is process:
                return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)

    def stop_all(self) -> None:
        for process, _ in reversed(self.started):
            with contextlib.suppress(Exception):
                self.stop(process)


def wait_until_answering(
    processes: Processes, process: subprocess.Popen[bytes], url: str, ok: Callable[[int], bool]
) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited\n{processes.tail(process)}")
        try:
            if ok(httpx.get(url, timeout=2).status_code):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {READY_SECONDS:.0f} s")


# --------------------------------------------------------------------------- envelopes


_signing_key: CertifiedKey | None = None


def _load_signing_key(key_dir: str) -> None:
    global _signing_key
    _signing_key = load_or_create_dev_keys(Path(key_dir), [SENDER]).agencies[SENDER]


def _sign_range(recipients: list[str], padding: str, tag: str, numbers: range) -> list[bytes]:
    assert _signing_key is not None
    return [
        sign_envelope(document(SENDER, recipients, f"{tag},{n}", subject=padding), _signing_key)
        for n in numbers
    ]


class Signer:
    """Signs envelopes as the sender would, on every core, before anything is measured."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = str(key_dir)
        _load_signing_key(self.key_dir)
        self.pool = ProcessPoolExecutor(
            max_workers=os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_signing_key,
            initargs=(self.key_dir,),
        )
        self._padding: dict[tuple[str, ...], str] = {}

    def padding(self, recipients: list[str], size: int) -> str:
        """Subject text that brings a signed envelope to about `size` bytes."""
        key = tuple(recipients)
        if key not in self._padding:
            bare = len(_sign_range(recipients, "x", "size", range(1))[0])
            unit = len(PADDING.encode())
            self._padding[key] = "x" + PADDING * max(0, (size - bare) // unit)
        return self._padding[key]

    def size(self, recipients: list[str], size: int) -> int:
        return len(_sign_range(recipients, self.padding(recipients, size), "size", range(1))[0])

    def sign(self, recipients: list[str], size: int, tag: str, count: int) -> list[bytes]:
        padding = self.padding(recipients, size)
        chunks = [range(n, min(n + SIGN_CHUNK, count)) for n in range(0, count, SIGN_CHUNK)]
        futures = [
            self.pool.submit(_sign_range, recipients, padding, tag, chunk) for chunk in chunks
        ]
        return [body for future in futures for body in future.result(timeout=600)]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


# --------------------------------------------------------------------------- the axis


async def prepare(settings: Settings, receivers_url: str, count: int, secret: str) -> str:
    """Register the sender and `count` push recipients; return the sender's token."""
    records = [AgencyRecord(code=SENDER, name="Sender", level=AgencyLevel.PROVINCE)]
    for n in range(1, count + 1):
        push = PushDelivery.model_validate(
            {"url": f"{receivers_url}{receiver_path(n)}", "secret": secret}
        )
        records.append(
            AgencyRecord(
                code=recipient_code(n),
                name=f"Recipient {n}",
                level=AgencyLevel.PROVINCE,
                delivery=push,
            )
        )
    return await register_agencies(settings, records, [SENDER], SENDER, "bench/delivery.py")


@dataclass
class Axis:
    """The axis's processes by role: api, worker (and audit, with --audit-writer)."""

    parts: dict[str, subprocess.Popen[bytes]]

    def check(self, processes: Processes) -> None:
        for name, process in self.parts.items():
            if process.poll() is not None:
                raise RuntimeError(f"the axis's {name} process exited\n{processes.tail(process)}")


def start_axis(
    processes: Processes, env: dict[str, str], base_url: str, name: str, audit: bool
) -> Axis:
    command = [sys.executable, "-m", "axis.cli"]
    api = processes.start(f"{name}-api", [*command, "serve", "--only-api"], env)
    parts = {"api": api}
    try:
        wait_until_answering(processes, api, f"{base_url}/readyz", lambda status: status == 200)
        parts["worker"] = processes.start(f"{name}-worker", [*command, "worker"], env)
        if audit:
            parts["audit"] = processes.start(f"{name}-audit", [*command, "audit-writer"], env)
    except BaseException:
        for process in parts.values():
            processes.stop(process)
        raise
    return Axis(parts)


# --------------------------------------------------------------------------- CPU

Usage = dict[str, float]
"""CPU seconds by who spent them: api, worker, audit (the axis), receivers, kafka, bench
(the load generator) and the whole machine."""
AXIS_PARTS = ("api", "worker", "audit")
OUTSIDE = ("receivers", "kafka", "bench")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent not idle, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class Meter:
    """Reads the CPU time of the processes that matter, and of the whole machine."""

    pids: dict[str, int]

    def read(self) -> Usage:
        usage = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        usage["bench"] = time.process_time()  # the load generator: this process alone
        usage["machine"] = machine_busy_seconds()
        return usage


def spent(after: Usage, before: Usage) -> Usage:
    return {name: after[name] - before[name] for name in after}


def axis_cpu(usage: Usage) -> float:
    return sum(usage.get(name, 0.0) for name in AXIS_PARTS)


def rest_of_machine(usage: Usage) -> float:
    """Busy CPU the processes measured do not account for: other work on the machine."""
    known = axis_cpu(usage) + sum(usage.get(name, 0.0) for name in OUTSIDE)
    return max(0.0, usage["machine"] - known)


# --------------------------------------------------------------------------- load


@dataclass
class Run:
    """What one scenario shares: the client, the log, the axis, the recipients' count."""

    client: httpx.AsyncClient
    token: str
    log: DeliveryLog
    axis: Axis
    processes: Processes
    meter: Meter
    recipients: int
    accepted: list[float] = field(default_factory=list)
    """When each 202 arrived."""

    async def submit(self, body: bytes) -> str:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"}
        response = await self.client.post("/v1/documents", content=body, headers=headers)
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/documents: {response.status_code} {response.text[:300]}")
        self.accepted.append(clock())
        return str(response.json()["document_id"])

    def waiting(self, since: int, submitted: int) -> int:
        """Deliveries of the `submitted` documents not stored yet."""
        return submitted * self.recipients - (self.log.count() - since)

    async def wait_delivered(self, since: int, submitted: int, what: str, within: float) -> None:
        deadline = clock() + within
        while self.waiting(since, submitted) > 0:
            self.axis.check(self.processes)
            if clock() > deadline:
                raise RuntimeError(
                    f"{what}: {self.waiting(since, submitted)} of {submitted * self.recipients} "
                    f"deliveries still not stored after {within:.0f} s"
                )
            await asyncio.sleep(0.02)


async def follow(log: DeliveryLog) -> None:
    while True:
        log.poll()
        await asyncio.sleep(0.02)


@dataclass
class Saturation:
    in_flight: int
    deliveries: int
    """Stored by the receivers during the window."""
    accepted: int
    """Documents answered 202 during the window."""
    window: float
    cpu: Usage
    """Spent during the window."""
    submitted: int
    ran_out: bool
    profile: list[str] = field(default_factory=list)
    """The top entries of each axis process's profile in the window (with --profile)."""

    @property
    def per_second(self) -> float:
        return self.deliveries / self.window

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.window


async def closed_loop(
    run: Run,
    bodies: list[bytes],
    args: argparse.Namespace,
    in_flight: int,
    stop: asyncio.Event,
    since: int,
    deadline: float,
) -> int:
    """Send `bodies` with `in_flight` requests at once, while at most `--backlog`
    deliveries are waiting, until `stop` or the end; returns how many were submitted."""
    queue = list(reversed(bodies))
    submitted = 0

    async def sender() -> None:
        nonlocal submitted
        while queue and not stop.is_set():
            while run.waiting(since, submitted) >= args.backlog and not stop.is_set():
                if clock() > deadline:
                    raise RuntimeError("saturation: the backlog did not shrink before the deadline")
                run.axis.check(run.processes)
                await asyncio.sleep(0.02)
            if stop.is_set() or not queue:
                return
            body = queue.pop()
            submitted += 1
            await run.submit(body)
            if clock() > deadline:
                raise RuntimeError("saturation: still sending past the deadline")

    await asyncio.gather(*(sender() for _ in range(in_flight)))
    return submitted


async def saturate(
    run: Run,
    bodies: list[bytes],
    args: argparse.Namespace,
    in_flight: int,
    warmup: float,
    window: float,
    *,
    probe: bool = False,
    profiler: Profiler | None = None,
) -> Saturation:
    """Closed loop over `bodies`: deliveries stored in [warmup, warmup + window] counted,
    then everything sent is waited for. A probe may run out of envelopes at any time.
    A `profiler` records the axis's processes during the window."""
    since = run.log.count()
    accepted_since = len(run.accepted)
    profile: list[str] = []
    stop = asyncio.Event()
    started = clock()
    deadline = started + warmup + window + DRAIN_SECONDS
    sending = asyncio.create_task(closed_loop(run, bodies, args, in_flight, stop, since, deadline))
    try:
        await asyncio.wait([sending], timeout=warmup)
        if sending.done():
            sending.result()  # its error, if it failed
            if not probe:
                raise RuntimeError("saturation: the envelopes ran out during the warm-up")
        if profiler is not None:
            pids = {name: process.pid for name, process in run.axis.parts.items()}
            profiler.start(pids, prefix=f"{run.recipients}-recipients-{in_flight}-in-flight-")
        window_start = clock()
        before = run.meter.read()
        await asyncio.wait([sending], timeout=window)
        window_end = clock()
        after = run.meter.read()
        ran_out = sending.done()
        if profiler is not None:
            profile = profiler.finish()
        stop.set()
        submitted = await asyncio.wait_for(sending, SEND_GRACE_SECONDS)
    finally:
        stop.set()
        if not sending.done():
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
    await run.wait_delivered(since, submitted, "saturation: the rest", DRAIN_SECONDS)
    return Saturation(
        in_flight=in_flight,
        deliveries=run.log.between(window_start, window_end, since),
        accepted=sum(1 for at in run.accepted[accepted_since:] if window_start <= at <= window_end),
        window=window_end - window_start,
        cpu=spent(after, before),
        submitted=submitted,
        ran_out=ran_out,
        profile=profile,
    )


@dataclass
class HalfLoad:
    rate: float
    """Documents per second offered."""
    documents: int
    latencies: list[float]
    """Per delivery: receiver stored time minus scheduled send time, seconds."""
    last_of_document: list[float]
    """Per document: until its last recipient stored it."""
    cpu: Usage
    """Spent from the first send to the last delivery."""
    elapsed: float
    late_sends: int


async def open_loop(run: Run, bodies: list[bytes], rate: float) -> HalfLoad:
    """Send one document every 1/rate s, each on its own task; latency per delivery."""
    since = run.log.count()
    scheduled: dict[str, float] = {}
    late = 0

    async def send(body: bytes, at: float) -> None:
        scheduled[await run.submit(body)] = at

    before = run.meter.read()
    start = clock() + 0.05
    tasks: list[asyncio.Task[None]] = []
    try:
        for n, body in enumerate(bodies):
            at = start + n / rate
            pause = at - clock()
            if pause > 0:
                await asyncio.sleep(pause)
            elif pause < -0.01:
                late += 1
            if n % 64 == 0:
                run.axis.check(run.processes)
            tasks.append(asyncio.create_task(send(body, at)))
        await asyncio.wait_for(asyncio.gather(*tasks), SEND_GRACE_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await run.wait_delivered(since, len(bodies), "half load", DRAIN_SECONDS)
    after = run.meter.read()
    latencies: list[float] = []
    last: dict[str, float] = {}
    for record in run.log.records[since:]:
        latency = record.at - scheduled[record.document_id]
        latencies.append(latency)
        last[record.document_id] = max(latency, last.get(record.document_id, 0.0))
    return HalfLoad(
        rate=rate,
        documents=len(bodies),
        latencies=latencies,
        last_of_document=list(last.values()),
        cpu=spent(after, before),
        elapsed=clock() - start,
        late_sends=late,
    )


# --------------------------------------------------------------------------- scenarios


@dataclass
class Outcome:
    recipients: int
    size: int
    sweep: list[Saturation]
    """One saturation run per --in-flight value."""
    half: HalfLoad
    notes: list[str] = field(default_factory=list)

    @property
    def saturation(self) -> Saturation:
        """The sweep's highest delivery rate: the saturated rate."""
        return max(self.sweep, key=lambda saturation: saturation.per_second)

    @property
    def documents_per_second(self) -> float:
        return self.saturation.per_second / self.recipients

    @property
    def saturation_documents(self) -> float:
        return max(self.saturation.deliveries / self.recipients, 1e-9)

    @property
    def saturation_cpu_per_document(self) -> float:
        return axis_cpu(self.saturation.cpu) / self.saturation_documents

    @property
    def half_cpu_per_document(self) -> float:
        return axis_cpu(self.half.cpu) / self.half.documents


@dataclass
class Bench:
    args: argparse.Namespace
    processes: Processes
    profiler: Profiler | None
    run_dir: Path
    key_dir: Path
    bootstrap: str
    kafka_pid: int | None
    receivers_url: str
    receiver: subprocess.Popen[bytes]
    log: DeliveryLog
    signer: Signer
    secret: str
    tag: str


async def scenario(bench: Bench, recipients: int) -> Outcome:
    """One fresh axis (data directory, topics) delivering to `recipients` push agencies."""
    args = bench.args
    data_dir = bench.run_dir / f"axis-{recipients}"
    shutil.copytree(bench.key_dir, data_dir / "dev-keys")  # one CA and sender key per run
    port = free_port()
    env = {
        **os.environ,
        "AXIS_DATA_DIR": str(data_dir),
        "AXIS_BUS": "kafka",
        "AXIS_KAFKA_BOOTSTRAP": bench.bootstrap,
        "AXIS_TOPIC_NAMESPACE": f"bench-{bench.tag}-{recipients}",
        "AXIS_PORT": str(port),
        "AXIS_LOG_LEVEL": "warning",
        "AXIS_AGENCY_RATE_PER_SECOND": "1000000",
        "AXIS_AGENCY_RATE_BURST": "1000000",
        "AXIS_AGENCY_MAX_IN_FLIGHT": "100000",  # one agency's clients, all at once
        "AXIS_PUSH_ALLOW_INSECURE_HOSTS": '["127.0.0.1"]',  # the receivers, plain http
    }
    if args.database_url:
        env["AXIS_DATABASE_URL"] = args.database_url
    settings = Settings(
        data_dir=data_dir, database_url=args.database_url, push_allow_insecure_hosts=["127.0.0.1"]
    )
    token = await prepare(settings, bench.receivers_url, max(args.recipients), bench.secret)
    codes = [recipient_code(n) for n in range(1, recipients + 1)]
    tag = f"bench-{bench.tag}-{recipients}"

    def sign(phase: str, count: int) -> list[bytes]:
        return bench.signer.sign(codes, args.size, f"{tag}-{phase}", min(count, MAX_DOCUMENTS))

    ready_bodies = sign("ready", 10)
    probe_bodies = sign("probe", max(60, 600 // recipients))
    base_url = f"http://127.0.0.1:{port}"
    axis = start_axis(bench.processes, env, base_url, f"axis-{recipients}", args.audit_writer)
    pids = {name: process.pid for name, process in axis.parts.items()}
    pids["receivers"] = bench.receiver.pid
    if bench.kafka_pid is not None:
        pids["kafka"] = bench.kafka_pid
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=256)
    try:
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            run = Run(client, token, bench.log, axis, bench.processes, Meter(pids), recipients)
            since = bench.log.count()
            for body in ready_bodies:  # the worker's consumers have joined once these arrive
                await run.submit(body)
            await run.wait_delivered(since, len(ready_bodies), "the first documents", READY_SECONDS)
            most = max(args.in_flight)
            probe = await saturate(run, probe_bodies, args, most, 1.0, PROBE_SECONDS, probe=True)
            count = math.ceil(probe.per_second / recipients * 2 * (args.warmup + args.duration))
            sweep = []
            for in_flight in args.in_flight:  # the saturated point is profiled
                bodies = sign(f"saturation-{in_flight}", count + args.backlog // recipients + most)
                profiler = bench.profiler if in_flight == most else None
                sweep.append(
                    await saturate(
                        run, bodies, args, in_flight, args.warmup, args.duration, profiler=profiler
                    )
                )
            rate = max(point.per_second for point in sweep) / recipients / 2
            half = await open_loop(run, sign("half", max(1, round(rate * args.duration))), rate)
    finally:
        for process in reversed(axis.parts.values()):
            bench.processes.stop(process)
    outcome = Outcome(recipients, bench.signer.size(codes, args.size), sweep, half)
    for point in sweep:
        if point.ran_out:
            outcome.notes.append(
                f"{recipients} recipient(s), {point.in_flight} in flight: the signed envelopes "
                f"ran out {point.window:.1f} s into the window (the probe underestimated the "
                "rate); the rate is over that time"
            )
    if half.late_sends:
        outcome.notes.append(
            f"{recipients} recipient(s): {half.late_sends} sends left over 10 ms late (the load "
            "generator lagged; their latency still counts from the scheduled time)"
        )
    return outcome


def quantile_ms(values: Sequence[float], q: int) -> float:
    """The q-th percentile of `values`, in milliseconds."""
    if len(values) < 2:
        return (values[0] if values else math.nan) * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def report_row(outcome: Outcome) -> str:
    half = outcome.half
    return (
        f"{outcome.recipients:>10} {outcome.size:>7} {outcome.saturation.per_second:>9.1f} "
        f"{outcome.documents_per_second:>7.1f} {half.rate:>9.1f} "
        f"{quantile_ms(half.latencies, 50):>7.1f} {quantile_ms(half.latencies, 95):>7.1f} "
        f"{quantile_ms(half.latencies, 99):>7.1f} "
        f"{outcome.saturation_cpu_per_document * 1000:>8.1f} "
        f"{outcome.half_cpu_per_document * 1000:>8.1f}"
    )


def _per_document(usage: Usage, documents: float, elapsed: float) -> str:
    cores = os.cpu_count() or 1

    def ms(seconds: float) -> str:
        return f"{seconds / documents * 1000:.1f}"

    outside = ", ".join(f"{name} {ms(usage[name])}" for name in OUTSIDE if name in usage)
    axis = " + ".join(f"{name} {ms(usage[name])}" for name in AXIS_PARTS if name in usage)
    return (
        f"{axis} ms CPU/doc; not the axis: "
        f"{outside}, rest of the machine {ms(rest_of_machine(usage))} "
        f"(machine busy {usage['machine'] / elapsed:.2f} of {cores} cores)"
    )


def report_details(outcome: Outcome) -> list[str]:
    sat, half, k = outcome.saturation, outcome.half, outcome.recipients
    return [
        f"{k} recipient(s) at saturation: {sat.deliveries} deliveries in {sat.window:.1f} s "
        f"({sat.submitted} documents sent in all); "
        + _per_document(sat.cpu, outcome.saturation_documents, sat.window),
        f"{k} recipient(s) at half load: {half.documents} documents, {len(half.latencies)} "
        f"deliveries; last recipient of a document p50/p99 "
        f"{quantile_ms(half.last_of_document, 50):.1f}/"
        f"{quantile_ms(half.last_of_document, 99):.1f} ms; "
        + _per_document(half.cpu, half.documents, half.elapsed),
    ]


def point_cpu_per_document(point: Saturation, recipients: int) -> float:
    return axis_cpu(point.cpu) / max(point.deliveries / recipients, 1e-9)


def report_sweep(outcome: Outcome) -> list[str]:
    k = outcome.recipients
    return [
        f"{k} recipient(s), {point.in_flight:>3} in flight: {point.per_second:.1f} deliveries/s, "
        f"{point.accepted_per_second:.1f} accepted docs/s, "
        f"{point_cpu_per_document(point, k) * 1000:.1f} ms axis CPU/doc"
        for point in outcome.sweep
    ]


def report_floors(outcomes: list[Outcome], framework: list[Floor], crypto: Floor) -> list[str]:
    floors = {floor.clients: floor for floor in framework}
    lines = [floor_line(floor) for floor in framework] + [floor_line(crypto)]
    for outcome in outcomes:
        point = outcome.saturation
        lines.append(
            f"axis, {outcome.recipients} recipient(s), {point.in_flight} in flight: "
            + ratios(
                outcome.documents_per_second,
                outcome.saturation_cpu_per_document * 1000,
                floors[point.in_flight],
                crypto,
            )
        )
    return lines


def figures_of(
    outcomes: list[Outcome], framework: list[Floor], crypto: Floor, args: argparse.Namespace
) -> Figures:
    """What --json writes and --plot draws."""
    figures = Figures(
        title=f"bench/delivery.py: documents of {outcomes[0].size} bytes to push recipients, "
        f"Kafka, {'PostgreSQL' if args.database_url else 'SQLite'}, {os.cpu_count()} cores; "
        f"windows of {args.duration:g} s after {args.warmup:g} s; latency at half the "
        "saturated rate",
        framework_floor=framework,
        crypto_floor=crypto,
        notes={"duration": args.duration, "warmup": args.warmup, "backlog": args.backlog},
    )
    for outcome in outcomes:
        k = outcome.recipients
        figures.series += [
            Series(f"accepted, {k} recipient(s)", [
                (point.in_flight, point.accepted_per_second) for point in outcome.sweep]),
            Series(f"delivered, {k} recipient(s)", [
                (point.in_flight, point.per_second / k) for point in outcome.sweep]),
        ]  # fmt: skip
        figures.latency.append(
            Latency(
                f"submit to stored, {k} recipient(s), {outcome.half.rate:.1f} docs/s offered",
                outcome.half.latencies,
            )
        )
        figures.notes[f"axis CPU ms/doc, {k} recipient(s)"] = {
            point.in_flight: point_cpu_per_document(point, k) * 1000 for point in outcome.sweep
        }
    return figures


async def measure_floors(bench: Bench) -> tuple[list[Floor], Floor]:
    """The framework floor at each --in-flight (the same client, bodies of the same size)
    for --floor-duration s each, then the crypto floor; the axis is stopped by then."""
    args = bench.args
    bodies = bench.signer.sign([recipient_code(1)], args.size, f"{bench.tag}-floor", FLOOR_BODIES)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = bench.processes.start("floor", floor_command(port), dict(os.environ))
    framework = []
    try:
        wait_until_answering(bench.processes, process, f"{url}/readyz", lambda s: s == 200)
        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=256)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            for in_flight in args.in_flight:
                per_second, cpu = await closed_loop_rate(
                    client, "floor", bodies, in_flight, min(args.warmup, 2.0),
                    args.floor_duration, lambda: cpu_seconds(process.pid),
                )  # fmt: skip
                framework.append(Floor("framework", in_flight, per_second, cpu * 1000))
    finally:
        bench.processes.stop(process)
    floor_dir = bench.run_dir / "floors"
    shutil.copytree(bench.key_dir, floor_dir / "dev-keys")
    sender = load_or_create_dev_keys(bench.key_dir, [SENDER]).agencies[SENDER]
    pem = certificate_pem(sender.certificate)
    return framework, crypto_floor(bodies, Settings(data_dir=floor_dir), pem)


def report_ratios(outcomes: list[Outcome]) -> None:
    first = outcomes[0]
    j = first.recipients
    for other in outcomes[1:]:
        k = other.recipients
        deliveries = other.saturation.per_second / first.saturation.per_second
        documents = other.documents_per_second / first.documents_per_second
        cpu = other.half_cpu_per_document / first.half_cpu_per_document
        p50 = quantile_ms(other.half.latencies, 50) / quantile_ms(first.half.latencies, 50)
        print(
            f"{k} / {j} recipients: deliveries/s x{deliveries:.2f}, documents/s x{documents:.2f}, "
            f"axis CPU per document x{cpu:.2f} (per delivery x{cpu * j / k:.2f}), "
            f"p50 latency x{p50:.2f}"
        )
    for outcome in outcomes:
        print(
            f"{outcome.recipients} recipient(s): axis CPU per document at half load / at "
            f"saturation x{outcome.half_cpu_per_document / outcome.saturation_cpu_per_document:.2f}"
        )


async def main_async(bench: Bench) -> None:
    args = bench.args
    follower = asyncio.create_task(follow(bench.log))
    in_flight = ",".join(str(n) for n in args.in_flight)
    try:
        database = "the database at --database-url" if args.database_url else "SQLite"
        audit = " + one `axis audit-writer`" if args.audit_writer else " (no audit writer)"
        print(
            f"Kafka at {bench.bootstrap}, {database}; the axis as `axis serve --only-api` + one "
            f"`axis worker`{audit} (fresh per row); push receivers in one other uvicorn process "
            f"(folders in {args.receiver_dir}); {os.cpu_count()} cores shared by Kafka, the "
            "axis, the receivers and the load generator"
        )
        print(
            f"saturation: {in_flight} requests in flight, at most {args.backlog} deliveries "
            f"waiting, counted over {args.duration:g} s after {args.warmup:g} s; half load: "
            f"open loop at half the saturated document rate for {args.duration:g} s; latency: "
            "scheduled send to stored by the receiver, per delivery; CPU: ms of the axis's "
            "processes together per document, at saturation and at half load"
        )
        print(
            f"{'recipients':>10} {'bytes':>7} {'deliv/s':>9} {'docs/s':>7} {'offered':>9} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'CPU sat':>8} {'CPU half':>8}"
        )
        outcomes = []
        for recipients in args.recipients:
            outcome = await scenario(bench, recipients)
            outcomes.append(outcome)
            print(report_row(outcome), flush=True)
        for outcome in outcomes:
            for line in report_details(outcome):
                print(line)
        for outcome in outcomes:
            for note in outcome.notes:
                print(f"note: {note}")
        report_ratios(outcomes)
        if len(args.in_flight) > 1:
            for outcome in outcomes:
                for line in report_sweep(outcome):
                    print(line)
        framework, crypto = await measure_floors(bench)
        for line in report_floors(outcomes, framework, crypto):
            print(line)
        for outcome in outcomes:
            for point in outcome.sweep:
                for line in point.profile:
                    print(line)
        figures = figures_of(outcomes, framework, crypto, args)
        if args.json:
            figures.write_json(args.json)
        if args.plot:
            plot(figures, args.plot)
            print(f"plot: {args.plot}")
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def default_receiver_dir() -> str:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the window")
    parser.add_argument(
        "--recipients", type=lambda s: [int(n) for n in s.split(",")], default=[1, 10]
    )
    parser.add_argument("--size", type=int, default=20_000, help="bytes per signed envelope")
    parser.add_argument(
        "--in-flight",
        type=lambda s: sorted({int(n) for n in s.split(",")}),
        default=[16],
        help="requests at saturation; several (1,4,16,64) sweep: the best rate is the saturated",
    )
    parser.add_argument("--backlog", type=int, default=512, help="deliveries waiting, at most")
    parser.add_argument("--kafka", help="bootstrap of a running broker (default: start one)")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: SQLite)")
    parser.add_argument("--receiver-dir", default=default_receiver_dir())
    parser.add_argument(
        "--audit-writer",
        action="store_true",
        help="also run `axis audit-writer` (counted as the axis's CPU)",
    )
    parser.add_argument(
        "--floor-duration", type=float, default=10.0, help="seconds per framework floor window"
    )
    parser.add_argument("--json", type=Path, help="write the figures (JSON) to this file")
    parser.add_argument("--plot", type=Path, help="draw the figures (PNG) into this file")
    parser.add_argument("--profile", type=Path, help="py-spy profiles into this directory")
    parser.add_argument("--serve-receivers", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receivers is not None:  # the receiver process
        serve_receivers(args.serve_receivers, args.port, args.count, args.log)
        return
    if min(args.recipients) < 1 or max(args.recipients) > 99:
        parser.error("--recipients: between 1 and 99")
    signal.signal(signal.SIGTERM, _terminate)  # so the cleanup below runs
    run_dir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    receiver_dir = Path(tempfile.mkdtemp(prefix="bench-receivers-", dir=args.receiver_dir))
    processes = Processes(run_dir)
    node: Any = None
    signer: Signer | None = None
    profiler = Profiler(args.profile) if args.profile else None
    try:
        bootstrap = args.kafka
        if not bootstrap:
            node = load_launcher().KafkaNode(  # type: ignore[no-untyped-call]
                str(run_dir / "kafka"), die_with_parent=True
            )
            bootstrap = node.start()
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        receiver_port = free_port()
        log_path = run_dir / "deliveries.log"
        receiver = processes.start(
            "receivers",
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-receivers",
                str(receiver_dir),
                "--port",
                str(receiver_port),
                "--count",
                str(max(args.recipients)),
                "--log",
                str(log_path),
            ],
            {**os.environ, SECRET_ENV: secret},
        )
        receivers_url = f"http://127.0.0.1:{receiver_port}"
        wait_until_answering(processes, receiver, f"{receivers_url}/", lambda status: True)
        key_dir = run_dir / "dev-keys"
        load_or_create_dev_keys(key_dir, [SENDER])
        signer = Signer(key_dir)
        bench = Bench(
            args=args,
            kafka_pid=node.pid if node is not None else None,
            processes=processes,
            profiler=profiler,
            run_dir=run_dir,
            key_dir=key_dir,
            bootstrap=bootstrap,
            receivers_url=receivers_url,
            receiver=receiver,
            log=DeliveryLog(log_path),
            signer=signer,
            secret=secret,
            tag=uuid.uuid4().hex[:8],
        )
        asyncio.run(main_async(bench))
    finally:
        if profiler is not None:
            profiler.stop()
        processes.stop_all()
        if signer is not None:
            signer.close()
        if node is not None:
            with contextlib.suppress(Exception):
                node.stop()
        shutil.rmtree(receiver_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
