"""The embedded bus survives `kill -9`: nothing acknowledged is lost, nothing uncommitted
is skipped. Real child processes, killed for real."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from axis.bus import Message, Record
from axis.bus.embedded import EmbeddedBus

CHILD = Path(__file__).with_name("embedded_child.py")
DEADLINE = 60.0


def start_child(command: str, bus_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), command, str(bus_file)],
        stdout=subprocess.PIPE,
        text=True,
    )


def read_lines_until(child: subprocess.Popen[str], enough: int, prefix: str) -> list[str]:
    """Lines starting with `prefix` until `enough` of them; fails past the deadline."""
    assert child.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + DEADLINE
    while len(lines) < enough:
        assert time.monotonic() < end, f"child printed only {len(lines)} lines"
        line = child.stdout.readline()
        assert line, f"child exited early with {child.wait()}"
        if line.startswith(prefix):
            lines.append(line.split(maxsplit=1)[1].strip())
    return lines


def kill_hard(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=DEADLINE)
    assert child.returncode == -signal.SIGKILL


async def read_all(bus: EmbeddedBus, group: str) -> list[Record]:
    records: list[Record] = []
    async with bus.consumer(group, ["crash"]) as consumer:
        while batch := await consumer.getmany(max_wait=1.0):
            records.extend(batch)
    return records


async def test_nothing_acknowledged_is_lost_after_kill_9(tmp_path: Path) -> None:
    bus_file = tmp_path / "bus.sqlite3"
    child = start_child("publish", bus_file)
    acknowledged = read_lines_until(child, 2000, "ack")
    kill_hard(child)

    async with EmbeddedBus(bus_file) as bus:
        records = await read_all(bus, "auditor")
        stored = [r.value.decode() for r in records]
        assert set(acknowledged) <= set(stored)
        assert len(stored) == len(set(stored)), "a record was stored twice"
        for partition in {r.partition for r in records}:
            offsets = [r.offset for r in records if r.partition == partition]
            assert offsets == list(range(len(offsets))), "offsets have a gap"
        # The log is still writable where the killed writer left it.
        await bus.publish_many([Message("crash", b"after", b"0")])


async def test_a_killed_members_uncommitted_records_go_to_the_survivor(tmp_path: Path) -> None:
    bus_file = tmp_path / "bus.sqlite3"
    async with EmbeddedBus(bus_file, session_timeout=1.0, heartbeat_interval=0.1) as bus:
        await bus.create_topic("crash", partitions=3)
        await bus.publish_many(
            [Message("crash", f"{i}".encode(), f"{i}".encode()) for i in range(30)]
        )
        child = start_child("consume", bus_file)
        while int(read_lines_until(child, 1, "read")[0]) < 30:
            pass  # the child has not read everything yet
        kill_hard(child)

        async with bus.consumer("crashers", ["crash"]) as survivor:
            records: list[Record] = []
            end = time.monotonic() + DEADLINE
            while len(records) < 30:
                assert time.monotonic() < end, f"only {len(records)} records came back"
                records.extend(await survivor.getmany(max_wait=0.5))
        assert sorted(int(r.value) for r in records) == list(range(30))
