"""Both bus engines behind one fixture, so the contract suite runs unchanged on each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from axis.bus import Bus
from axis.bus.embedded import EmbeddedBus
from axis.bus.kafka import KafkaBus


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    engine: Bus
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        # A namespace per test keeps tests apart on the one shared broker.
        engine = KafkaBus(bootstrap, namespace=f"test-{uuid.uuid4().hex[:12]}", session_timeout=6)
    else:
        engine = EmbeddedBus(tmp_path / "bus.sqlite3", heartbeat_interval=0.1)
    async with engine:
        yield engine
