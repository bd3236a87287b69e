"""`deployment` (the axis as real processes on both buses) and the built Java client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e.e2e_support import Deployment, Engine, deployment_on
from java_client import build_client


@pytest.fixture(scope="session")
def java_classpath() -> str:
    return build_client()


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded-sqlite"),
        pytest.param("kafka", id="kafka-postgres", marks=[pytest.mark.kafka, pytest.mark.postgres]),
    ]
)
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    engine: Engine = request.param
    bootstrap = request.getfixturevalue("kafka_bootstrap") if engine == "kafka" else None
    async for running in deployment_on(request, tmp_path, engine, bootstrap):
        yield running
