"""`deployment`: the axis as separate processes on (a) the embedded bus with SQLite and
(b) a real Kafka broker with PostgreSQL, each test with a database of its own; `haproxy`: a
load balancer in front of two API ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import Deployment, Engine, deployment_on
from push_endpoint import free_port


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


@pytest.fixture
def haproxy(haproxy_launcher: ModuleType, tmp_path: Path) -> Iterator[Any]:
    """HAProxy on a free port in front of two free ports, where the test starts the API
    (deploy/haproxy/launcher.py's HAProxyNode); its log's tail is printed at the end."""
    backends = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    node = haproxy_launcher.HAProxyNode(tmp_path / "haproxy", backends, die_with_parent=True)
    node.start()
    try:
        yield node
    finally:
        node.stop()
        print(f"--- haproxy ---\n{haproxy_launcher.tail(node.log_path, 30)}")
