"""`deployment`: the axis as separate processes on (a) the embedded bus with SQLite and
(b) a real Kafka broker with PostgreSQL, each test with a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_support import Deployment, Engine, deployment_on


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded-sqlite"),
        pytest.param("kafka", id="kafka-postgres", marks=[pytest.mark.kafka, pytest.mark.postgres]),
    ]
)
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Not started: the test registers its agencies, then starts the processes it wants."""
    engine: Engine = request.param
    bootstrap = request.getfixturevalue("kafka_bootstrap") if engine == "kafka" else None
    async for running in deployment_on(request, tmp_path, engine, bootstrap):
        yield running
