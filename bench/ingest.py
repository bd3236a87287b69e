"""Accepted documents per second through the real API process, on each bus engine, against
the framework and crypto floors measured in the same run.

    python bench/ingest.py [--documents 600] [--concurrency 1,8,32,64] [--size 20000]
                           [--engines embedded,kafka] [--kafka HOST:PORT]
                           [--json PATH] [--plot PATH] [--profile DIR]

For each engine an `axis serve` process is started on its defaults (SQLite) with that bus;
two agencies are registered with development certificates; 20 KB envelopes are signed
beforehand (signing is the agency's cost, not the axis's) and sent by `--concurrency`
concurrent clients, each document once. Printed per engine and concurrency: accepted
documents per second, latency p50/p95, and the API process's CPU seconds per accepted
document (from /proc, so the load generator's own CPU is not counted). Without `--kafka` a
local broker is started with deploy/kafka/launcher.py.

Then the floors (bench/floors.py): the same kind of client sends the same kind of bodies,
at each concurrency, to a bare FastAPI app in its own uvicorn process (for
`--floor-duration` s after 1 s: a fixed count of requests would be over before the CPU
clock ticked enough), and parse + verify + one evidence signature run in a loop;
the best row of each engine is printed as ratios to both. `--json` writes the figures,
`--plot` draws them (bench/plot.py; the latency panel is each concurrency's closed-loop
latency of the last engine), `--profile DIR` records the API process with py-spy during the
highest concurrency and prints its top entries (bench/profiles.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bus_publish import load_launcher  # noqa: E402
from envelopes import document  # noqa: E402
from floors import (  # noqa: E402
    Floor,
    closed_loop_rate,
    crypto_floor,
    floor_line,
    ratios,
    start_floor,
)
from plot import Figures, Latency, Series, plot  # noqa: E402
from profiles import Profiler  # noqa: E402

from axis.app import configured_identity  # noqa: E402
from axis.config import Settings  # noqa: E402
from axis.credentials import create_token  # noqa: E402
from axis.registry import (  # noqa: E402
    AgencyRecord,
    CertificateRecord,
    RegistryRules,
    add_certificate,
    save_agencies,
)
from axis.storage.database import create_engine, create_session_factory, migrate  # noqa: E402
from axis.storage.models import AgencyLevel, Role  # noqa: E402
from signing.devkeys import load_or_create_dev_keys  # noqa: E402
from signing.keys import certificate_pem  # noqa: E402
from signing.xmldsig import sign_envelope  # noqa: E402

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H26"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (threads are counted in their process's stat): `axis serve`
    runs its API and workers in child processes (`AXIS_SERVE_WORKERS`)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants, in seconds."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


async def register_agencies(
    settings: Settings,
    records: Sequence[AgencyRecord],
    certified: Sequence[str],
    sender: str,
    label: str = "",
) -> str:
    """Save `records`, add the development certificate of each agency in `certified` (made
    in `settings.dev_key_dir` if missing) and return a new agency token for `sender`: the
    set-up of every benchmark that sends documents (this one and delivery.py)."""
    keys = load_or_create_dev_keys(settings.dev_key_dir, list(certified))
    await migrate(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            rules = RegistryRules.of(settings, configured_identity(settings))
            await save_agencies(session, records, rules)
            for code in certified:
                pem = certificate_pem(keys.agencies[code].certificate).decode()
                await add_certificate(session, code, CertificateRecord(pem=pem), rules)
            _, token = await create_token(session, Role.AGENCY, sender, label)
    finally:
        await engine.dispose()
    return token


async def prepare(settings: Settings) -> str:
    """Register the two agencies and their certificates; return the sender's token."""
    records = [
        AgencyRecord(code=code, name=code, level=AgencyLevel.PROVINCE)
        for code in (SENDER, RECIPIENT)
    ]
    return await register_agencies(settings, records, [SENDER, RECIPIENT], SENDER)


def envelopes(settings: Settings, count: int, size: int, tag: str) -> list[bytes]:
    """`count` signed envelopes of about `size` bytes, each with its own DocumentId."""
    key = load_or_create_dev_keys(settings.dev_key_dir, [SENDER]).agencies[SENDER]
    base = len(document(SENDER, [RECIPIENT], "x"))
    padding = "Nội dung văn bản. " * max(0, (size - base) // 22)
    return [
        sign_envelope(document(SENDER, [RECIPIENT], f"{tag},{n}", subject=padding), key)
        for n in range(count)
    ]


async def send_all(
    base_url: str, token: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float]]:
    queue = list(reversed(bodies))
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await client.post("/v1/documents", content=body, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def start_server(
    env: dict[str, str], base_url: str, *arguments: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`axis serve [arguments]` in its own process (its output in `log`, if given), once its
    /readyz answers 200."""
    command = [sys.executable, "-m", "axis.cli", "serve", *arguments]
    if log is None:
        process = subprocess.Popen(command, env=env)
    else:
        with log.open("wb") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                "axis serve exited before it was ready" + (f": see {log}" if log else "")
            )
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("axis serve was not ready within 60 s")


@dataclass
class Step:
    """One engine at one concurrency."""

    engine: str
    concurrency: int
    per_second: float
    cpu_ms: float
    """API CPU per accepted document."""
    latencies: list[float]


async def bench_engine(
    engine: str, args: argparse.Namespace, bootstrap: str, profiler: Profiler | None
) -> list[Step]:
    steps = []
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = {
            **os.environ,
            "AXIS_DATA_DIR": data_dir,
            "AXIS_BUS": engine,
            "AXIS_KAFKA_BOOTSTRAP": bootstrap,
            "AXIS_TOPIC_NAMESPACE": f"bench{port}",
            "AXIS_PORT": str(port),
            "AXIS_LOG_LEVEL": "warning",
            "AXIS_AGENCY_RATE_PER_SECOND": "1000000",
            "AXIS_AGENCY_RATE_BURST": "1000000",
            "AXIS_AGENCY_MAX_IN_FLIGHT": "100000",  # one agency's clients, all at once
        }
        settings = Settings(data_dir=Path(data_dir))
        token = await prepare(settings)
        base_url = f"http://127.0.0.1:{port}"
        process = start_server(env, base_url)
        try:
            warm = envelopes(settings, 20, args.size, "warm")
            await send_all(base_url, token, warm, 4)
            for concurrency in args.concurrency:
                bodies = envelopes(settings, args.documents, args.size, f"c{concurrency}")
                recording = profiler if concurrency == max(args.concurrency) else None
                if recording is not None:
                    recording.start({"api": process.pid}, prefix=f"{engine}-")
                cpu_before = cpu_seconds(process.pid)
                wall, latencies = await send_all(base_url, token, bodies, concurrency)
                cpu = cpu_seconds(process.pid) - cpu_before
                profile = recording.finish() if recording is not None else []
                quantiles = statistics.quantiles(latencies, n=20)
                step = Step(engine, concurrency, len(bodies) / wall, cpu / len(bodies) * 1000,
                            latencies)  # fmt: skip
                steps.append(step)
                print(
                    f"{engine:<9} {concurrency:>7} {step.per_second:>10.1f} "
                    f"{quantiles[9] * 1000:>9.1f} {quantiles[18] * 1000:>9.1f} "
                    f"{step.cpu_ms:>14.2f}",
                    flush=True,
                )
                for line in profile:
                    print(line)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return steps


async def measure_floors(args: argparse.Namespace) -> tuple[list[Floor], Floor]:
    """The framework floor at each concurrency (the same load generator, the same kind of
    bodies) and the crypto floor."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        bodies = envelopes(settings, 100, args.size, "floor")
        port = free_port()
        process = start_floor(port)
        framework = []
        limits = httpx.Limits(max_connections=max(args.concurrency))
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
            ) as client:
                for concurrency in args.concurrency:
                    per_second, cpu = await closed_loop_rate(
                        client, "floor", bodies, concurrency, 1.0, args.floor_duration,
                        lambda: cpu_seconds(process.pid),
                    )  # fmt: skip
                    floor = Floor("framework", concurrency, per_second, cpu * 1000)
                    framework.append(floor)
                    print(floor_line(floor), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
        sender = load_or_create_dev_keys(settings.dev_key_dir, [SENDER]).agencies[SENDER]
        crypto = crypto_floor(bodies, settings, certificate_pem(sender.certificate))
        print(floor_line(crypto), flush=True)
        return framework, crypto


async def main_async(args: argparse.Namespace) -> None:
    size = len(envelopes(Settings(data_dir=Path(tempfile.mkdtemp())), 1, args.size, "size")[0])
    print(
        f"{args.documents} signed envelopes of {size} bytes per step, SQLite, one API process "
        f"(the load generator shares the machine's {os.cpu_count()} cores)"
    )
    print(f"{'engine':<9} {'clients':>7} {'docs/s':>10} {'p50 ms':>9} {'p95 ms':>9} "
          f"{'API CPU ms/doc':>14}")  # fmt: skip
    node = None
    bootstrap = args.kafka or ""
    if "kafka" in args.engines and not args.kafka:
        run_dir = tempfile.mkdtemp()
        node = load_launcher().KafkaNode(run_dir, die_with_parent=True)
        bootstrap = node.start()
    profiler = Profiler(args.profile) if args.profile else None
    steps: list[Step] = []
    try:
        for engine in args.engines:
            steps += await bench_engine(engine, args, bootstrap, profiler)
    finally:
        if profiler is not None:
            profiler.stop()
        if node is not None:
            node.stop()
    framework, crypto = await measure_floors(args)
    floors = {floor.clients: floor for floor in framework}
    for engine in args.engines:
        best = max((step for step in steps if step.engine == engine), key=lambda s: s.per_second)
        print(
            f"{engine} at {best.concurrency} clients: "
            + ratios(best.per_second, best.cpu_ms, floors[best.concurrency], crypto)
        )
    figures = Figures(
        title=f"bench/ingest.py: accepted documents of {size} bytes, one API process, "
        f"{os.cpu_count()} cores",
        series=[
            Series(
                f"accepted, {engine}",
                [(s.concurrency, s.per_second) for s in steps if s.engine == engine],
            )
            for engine in args.engines
        ],
        latency=[
            Latency(f"{s.engine}, {s.concurrency} clients (closed loop)", s.latencies)
            for s in steps
            if s.engine == args.engines[-1]
        ],
        framework_floor=framework,
        crypto_floor=crypto,
        notes={"documents": args.documents, "size": size, "cpu_ms": {
            f"{s.engine},{s.concurrency}": s.cpu_ms for s in steps}},
    )  # fmt: skip
    if args.json:
        figures.write_json(args.json)
    if args.plot:
        plot(figures, args.plot)
        print(f"plot: {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(n) for n in s.split(",")], default=[1, 8, 32, 64]
    )
    parser.add_argument("--engines", type=lambda s: s.split(","), default=["embedded", "kafka"])
    parser.add_argument("--kafka", help="bootstrap of a running broker (default: start one)")
    parser.add_argument(
        "--floor-duration", type=float, default=5.0, help="seconds per framework floor window"
    )
    parser.add_argument("--json", type=Path, help="write the figures (JSON) to this file")
    parser.add_argument("--plot", type=Path, help="draw the figures (PNG) into this file")
    parser.add_argument("--profile", type=Path, help="py-spy profiles into this directory")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
