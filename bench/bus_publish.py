"""Publish throughput of both bus engines, side by side in one run.

    python bench/bus_publish.py [--messages 50000] [--value-size 1024] [--batch 500]
                                [--publishers 4] [--kafka HOST:PORT]

Each engine gets the same load: `--publishers` concurrent tasks, each calling
`publish_many` with `--batch` records of `--value-size` random bytes, keyed over 1,000
keys, onto a 12-partition topic. Every call returns only once its records are durable
(Kafka: acks=all from an idempotent producer; embedded: an fsynced SQLite commit). Without
`--kafka` a local broker is started with deploy/kafka/launcher.py and stopped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from axis.bus import Bus, Message
from axis.bus.embedded import EmbeddedBus
from axis.bus.kafka import KafkaBus

LAUNCHER = Path(__file__).resolve().parents[1] / "deploy" / "kafka" / "launcher.py"


def load_launcher():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kafka_launcher", LAUNCHER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def measure(bus: Bus, args: argparse.Namespace) -> tuple[float, float]:
    """Records per second, and CPU seconds of this process per 1,000 records."""
    await bus.create_topic("bench", partitions=12)
    value = os.urandom(args.value_size)
    per_publisher = args.messages // args.publishers

    async def publisher(worker: int) -> None:
        for start in range(0, per_publisher, args.batch):
            batch = [
                Message("bench", value, key=f"agency-{(worker * 7919 + n) % 1000}".encode())
                for n in range(start, min(start + args.batch, per_publisher))
            ]
            await bus.publish_many(batch)

    await bus.publish_many([Message("bench", value, key=b"warm-up")])
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(publisher(w) for w in range(args.publishers)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = per_publisher * args.publishers
    return total / wall, cpu / total * 1_000_000


async def run(args: argparse.Namespace, bootstrap: str) -> None:
    engines: dict[str, Callable[[], Bus]] = {
        "embedded": lambda: EmbeddedBus(Path(tempfile.mkdtemp()) / "bus.sqlite3"),
        "kafka": lambda: KafkaBus(bootstrap, namespace=f"bench-{uuid.uuid4().hex[:8]}"),
    }
    results: dict[str, tuple[float, float]] = {}
    for name, make in engines.items():
        async with make() as bus:
            results[name] = await measure(bus, args)
    print(
        f"{args.messages} records of {args.value_size} B, batches of {args.batch}, "
        f"{args.publishers} concurrent publishers, 12 partitions"
    )
    print(f"{'engine':<10} {'records/s':>12} {'MiB/s':>8} {'CPU ms/1k records':>18}")
    for name, (rate, cpu) in results.items():
        mib = rate * args.value_size / 2**20
        print(f"{name:<10} {rate:>12,.0f} {mib:>8.1f} {cpu:>18.1f}")
    ratio = results["embedded"][0] / results["kafka"][0]
    print(f"embedded / kafka throughput ratio: {ratio:.2f}")


async def main_async(args: argparse.Namespace) -> None:
    if args.kafka:
        await run(args, args.kafka)
        return
    launcher = load_launcher()
    with tempfile.TemporaryDirectory() as run_dir:
        node = launcher.KafkaNode(run_dir, die_with_parent=True)
        bootstrap = node.start()
        try:
            await run(args, bootstrap)
        finally:
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--kafka", help="bootstrap of a running broker (default: start one)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
