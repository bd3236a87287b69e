"""What the console costs the server: an overview page load, and a connected overview.

    python bench/console.py [--consoles 20] [--duration 60] [--loads 100] [--rate 2]

One `axis serve` on its defaults (embedded bus, SQLite, figures sampled every 5 s) with
documents flowing at `--rate` per second throughout (0: none). Measured from /proc of the server
process: its CPU for `--duration` s with no console open, then with `--consoles` overview
pages' live streams open (signed-in HTTP clients reading `/ui/overview/events`), the
difference per console; then `--loads` overview page loads one after another (CPU and
latency per load, page size).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from envelopes import document  # noqa: E402
from ingest import cpu_seconds, free_port, register_agencies, start_server  # noqa: E402

from axis.config import Settings  # noqa: E402
from axis.credentials import create_token  # noqa: E402
from axis.registry import AgencyRecord  # noqa: E402
from axis.storage.database import create_engine, create_session_factory  # noqa: E402
from axis.storage.models import AgencyLevel, Role  # noqa: E402
from signing.devkeys import load_or_create_dev_keys  # noqa: E402
from signing.xmldsig import sign_envelope  # noqa: E402

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H26"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def operator_token(settings: Settings) -> str:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            _, token = await create_token(session, Role.OPERATOR)
    finally:
        await engine.dispose()
    return token


async def traffic(base_url: str, token: str, bodies: list[bytes], rate: float) -> None:
    """Send `bodies` at `rate` per second, round and round, until cancelled."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        n = 0
        while True:
            await client.post("/v1/documents", content=bodies[n % len(bodies)])
            n += 1
            await asyncio.sleep(1 / rate)


async def signed_in(client: httpx.AsyncClient, token: str) -> None:
    [csrf] = CSRF.findall((await client.get("/ui/sign-in")).text)
    answer = await client.post("/ui/sign-in", data={"token": token, "csrf": csrf})
    assert answer.status_code == 303, answer.text


async def watch(base_url: str, token: str, opened: asyncio.Event, counts: list[int]) -> None:
    """One overview page's live stream, read until cancelled; counts its events."""
    async with httpx.AsyncClient(base_url=base_url, timeout=None) as client:
        await signed_in(client, token)
        async with client.stream("GET", "/ui/overview/events") as response:
            opened.set()
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    counts.append(1)


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        records = [
            AgencyRecord(code=code, name=code, level=AgencyLevel.PROVINCE)
            for code in (SENDER, RECIPIENT)
        ]
        sender_token = await register_agencies(settings, records, [SENDER, RECIPIENT], SENDER)
        token = await operator_token(settings)
        key = load_or_create_dev_keys(settings.dev_key_dir, [SENDER]).agencies[SENDER]
        bodies = [
            sign_envelope(document(SENDER, [RECIPIENT], f"{SENDER},2026/12/03,{n}/BENCH"), key)
            for n in range(200)
        ]
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "AXIS_DATA_DIR": data_dir,
            "AXIS_PORT": str(port),
            "AXIS_LOG_LEVEL": "warning",
            "AXIS_AGENCY_MAX_IN_FLIGHT": "8",
        }
        server = start_server(env, base_url, log=Path(data_dir) / "serve.log")
        sending = asyncio.create_task(
            traffic(base_url, sender_token, bodies, args.rate) if args.rate else asyncio.sleep(0)
        )
        try:
            await asyncio.sleep(10)  # warm up: the first samples, caches
            before = cpu_seconds(server.pid)
            await asyncio.sleep(args.duration)
            idle = cpu_seconds(server.pid) - before

            counts: list[int] = []
            opened = [asyncio.Event() for _ in range(args.consoles)]
            watchers = [
                asyncio.create_task(watch(base_url, token, event, counts)) for event in opened
            ]
            await asyncio.gather(*(event.wait() for event in opened))
            await asyncio.sleep(5)
            before = cpu_seconds(server.pid)
            events_before = len(counts)
            await asyncio.sleep(args.duration)
            watched = cpu_seconds(server.pid) - before
            events = len(counts) - events_before
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                await signed_in(client, token)
                latencies = []
                size = 0
                before = cpu_seconds(server.pid)
                for _ in range(args.loads):
                    started = time.perf_counter()
                    page = await client.get("/ui/overview")
                    latencies.append(time.perf_counter() - started)
                    size = len(page.content)
                loads_cpu = cpu_seconds(server.pid) - before
        finally:
            sending.cancel()
            server.terminate()
            server.wait(timeout=30)
    per_console = (watched - idle) / args.consoles / args.duration
    print(
        f"server CPU, {args.rate:g} documents/s, no console: {idle / args.duration:.1%} of a core"
    )
    print(
        f"with {args.consoles} overviews open: {watched / args.duration:.1%} of a core; "
        f"per console {per_console:.2%} of a core ({per_console * 1000:.2f} ms CPU per s); "
        f"{events / args.consoles / args.duration:.2f} events/s per console"
    )
    print(
        f"overview page load: {loads_cpu / args.loads * 1000:.1f} ms server CPU, "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, {size / 1024:.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--consoles", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--loads", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
