"""Fairness between agencies: one agency's latency alone, then while another floods.

    python bench/fairness.py [--flood-connections 200] [--duration 20] [--probes 200]
                             [--probe-interval 0.05] [--probe send|read]
                             [--env NAME=VALUE ...]

One `axis serve` process on its defaults (embedded bus, SQLite; `--env` adds AXIS_*
settings, e.g. `--env AXIS_AGENCY_MAX_IN_FLIGHT=8`) and three agencies: A, B and their
recipient. B sends signed documents (`--probe read`: reads its inbox) one at a time, one
every `--probe-interval` s (a steady agency), `--probes` of them, and its latency is
measured: first alone, then while A sends signed documents as fast as it can on
`--flood-connections` parallel connections for `--duration` s, ignoring `Retry-After`
(each connection sends again at once, whatever the answer). Printed: B's p50/p99 alone
and under the flood and their ratio (the goal: p99 under twice its value alone), A's
answers by status and the API process's CPU over the flood. Documents are signed
beforehand (signing is the agency's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from envelopes import document  # noqa: E402
from ingest import cpu_seconds, free_port, register_agencies, start_server  # noqa: E402

from axis.config import Settings  # noqa: E402
from axis.registry import AgencyRecord  # noqa: E402
from axis.storage.models import AgencyLevel  # noqa: E402
from signing.devkeys import load_or_create_dev_keys  # noqa: E402
from signing.xmldsig import sign_envelope  # noqa: E402

A = "000.00.00.G22"
B = "000.00.00.H41"
RECIPIENT = "000.00.00.H26"


def signed(settings: Settings, sender: str, tag: str, count: int) -> list[bytes]:
    key = load_or_create_dev_keys(settings.dev_key_dir, [sender]).agencies[sender]
    return [
        sign_envelope(document(sender, [RECIPIENT], f"{sender},2026/12/03,{tag}{n}"), key)
        for n in range(count)
    ]


async def probe(
    base_url: str, token: str, bodies: list[bytes], interval: float, reads: bool
) -> list[float]:
    """B's sends (or, with `reads`, as many reads of its inbox), one at a time, one every
    `interval` s: the latency of each (s)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for body in bodies:
            started = time.perf_counter()
            if reads:
                answer = await client.get("/v1/inbox", headers=headers)
            else:
                answer = await client.post("/v1/documents", content=body, headers=headers)
            took = time.perf_counter() - started
            if answer.status_code != (200 if reads else 202):
                raise RuntimeError(f"B got {answer.status_code}: {answer.text[:300]}")
            latencies.append(took)
            await asyncio.sleep(max(0.0, interval - took))  # a steady sender's pace
    return latencies


async def flood(
    base_url: str, token: str, bodies: list[bytes], connections: int, stop: asyncio.Event
) -> Counter[int]:
    """A on `connections` connections, each sending again as soon as it is answered."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    answers: Counter[int] = Counter()
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def connection() -> None:
            while not stop.is_set() and queue:
                body = queue.pop()
                while not stop.is_set():  # the same document again until it is accepted
                    try:
                        answer = await client.post("/v1/documents", content=body, headers=headers)
                    except httpx.TransportError:
                        answers[0] += 1
                        continue
                    answers[answer.status_code] += 1
                    if answer.status_code in (200, 202):
                        break

        await asyncio.gather(*(connection() for _ in range(connections)))
    return answers


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        records = [
            AgencyRecord(code=code, name=code, level=AgencyLevel.PROVINCE)
            for code in (A, B, RECIPIENT)
        ]
        token_a = await register_agencies(settings, records, [A, B, RECIPIENT], A)
        token_b = await register_agencies(settings, [], [], B)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")} | {
            "AXIS_DATA_DIR": data_dir,
            "AXIS_PORT": str(port),
            "AXIS_LOG_LEVEL": "warning",
            **dict(item.split("=", 1) for item in args.env),
        }
        print("signing documents...", flush=True)
        alone_bodies = signed(settings, B, "alone", args.probes)
        flood_probes = signed(settings, B, "flood", args.probes)
        flood_bodies = signed(settings, A, "flood", args.flood_documents)
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(env, base_url, log=Path(data_dir) / "serve.log")
        try:
            reads = args.probe == "read"
            warm = signed(settings, B, "warm", 10)
            await probe(base_url, token_b, warm, args.probe_interval, reads)
            alone = await probe(base_url, token_b, alone_bodies, args.probe_interval, reads)
            stop = asyncio.Event()
            cpu_before = cpu_seconds(server.pid)
            started = time.perf_counter()
            flooding = asyncio.create_task(
                flood(base_url, token_a, flood_bodies, args.flood_connections, stop)
            )
            await asyncio.sleep(min(2.0, args.duration / 4))  # let the flood build up
            during = await probe(base_url, token_b, flood_probes, args.probe_interval, reads)
            await asyncio.sleep(max(0.0, args.duration - (time.perf_counter() - started)))
            stop.set()
            wall = time.perf_counter() - started
            cpu = cpu_seconds(server.pid) - cpu_before
            answers = await flooding
        finally:
            server.terminate()
            server.wait(timeout=30)
    p50_alone, p99_alone = percentiles(alone)
    p50_flood, p99_flood = percentiles(during)
    print(f"B's probe: {args.probe}")
    print(f"B alone:           p50 {p50_alone:8.1f} ms   p99 {p99_alone:8.1f} ms")
    print(
        f"B while A floods:  p50 {p50_flood:8.1f} ms   p99 {p99_flood:8.1f} ms   "
        f"(A: {args.flood_connections} connections for {wall:.0f} s)"
    )
    print(f"ratio under flood: p50 x{p50_flood / p50_alone:.2f}   p99 x{p99_flood / p99_alone:.2f}")
    shown = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(answers.items()))
    print(f"A's answers: {shown} ({sum(answers.values()) / wall:.0f}/s)")
    print(f"API process CPU over the flood: {cpu:.1f} s in {wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-connections", type=int, default=200)
    parser.add_argument("--flood-documents", type=int, default=1500)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--probe-interval", type=float, default=0.05)
    parser.add_argument("--probe", choices=["send", "read"], default="send")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for axis serve")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
