"""What the embedded engine does beyond the shared contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from axis.bus import BusError, Message
from axis.bus.embedded import EmbeddedBus, assign


async def test_publishing_to_an_unknown_topic_is_refused(tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        with pytest.raises(BusError, match="unknown topic 'nowhere'"):
            await bus.publish_many([Message("nowhere", b"x")])
        # The writer survived the refusal.
        await bus.create_topic("somewhere", 1)
        assert (await bus.publish("somewhere", b"x")).offset == 0


async def test_records_survive_reopening_the_file(tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        await bus.create_topic("kept", 2)
        await bus.publish_many([Message("kept", f"{i}".encode(), b"k") for i in range(5)])
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        position = await bus.publish("kept", b"5", key=b"k")
        assert position.offset == 5


def test_assignment_spreads_partitions_and_respects_subscriptions() -> None:
    members = {"a": ["docs", "events"], "b": ["docs"]}
    assigned = assign(members, {"docs": 4, "events": 1})
    assert len(assigned["a"]) + len(assigned["b"]) == 5
    assert {tp.topic for tp in assigned["b"]} == {"docs"}
    assert abs(len(assigned["a"]) - len(assigned["b"])) <= 1
    assert assign(members, {"docs": 4, "events": 1}) == assigned  # deterministic
