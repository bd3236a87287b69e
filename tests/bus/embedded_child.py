"""A child process for the embedded bus crash tests: it gets `kill -9`ed mid-work.

python embedded_child.py publish BUS_FILE   # publishes forever, prints "ack VALUE"
python embedded_child.py consume BUS_FILE   # reads without committing, prints "read N"
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from axis.bus.embedded import EmbeddedBus


async def publish_forever(path: Path) -> None:
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("crash", partitions=3)

        async def publisher(worker: int) -> None:
            for n in range(1_000_000):
                value = f"{worker}-{n}"
                await bus.publish("crash", value.encode(), key=str(worker).encode())
                print("ack", value, flush=True)

        await asyncio.gather(*(publisher(w) for w in range(8)))


async def consume_forever(path: Path) -> None:
    async with (
        EmbeddedBus(path, session_timeout=1.0, heartbeat_interval=0.1) as bus,
        bus.consumer("crashers", ["crash"]) as consumer,
    ):
        read = 0
        while True:
            read += len(await consumer.getmany(max_wait=0.2))
            print("read", read, flush=True)


if __name__ == "__main__":
    command, path = sys.argv[1], Path(sys.argv[2])
    asyncio.run(publish_forever(path) if command == "publish" else consume_forever(path))
