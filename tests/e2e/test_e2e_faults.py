"""The fault suite's CI run (tests/e2e/faults_support.py): 1,000 documents to three recipients
(push, pull with ack, file drop) through HAProxy, two API processes, two workers and an audit
writer on PostgreSQL and a three-broker Kafka cluster, while a broker is killed, the
partition leader's broker stopped, a worker killed, an API process killed mid-request, the
audit writer killed and PostgreSQL restarted, one after another.

Afterwards every document answered 2xx reached every recipient, with the very bytes sent;
one `delivered` per delivery id; no receiver got two bodies under one delivery id; the audit
log, exported whole, verifies offline with its consistency proofs. `bench/faults.py` runs
the same with 10,000 documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from e2e_support import Deployment
from faults_support import FaultRun

if TYPE_CHECKING:
    from deploy.kafka.launcher import KafkaCluster

DOCUMENTS = 1000

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def postgres(postgres_launcher: ModuleType, tmp_path: Path) -> Iterator[Any]:
    """A PostgreSQL server of this test's own: the test restarts it."""
    node = postgres_launcher.PostgresNode(tmp_path / "postgres")
    node.start()
    try:
        yield node
    finally:
        node.stop(remove=True)


@pytest.mark.timeout(900)
async def test_nothing_acknowledged_is_lost_while_every_part_fails_in_turn(
    kafka_cluster: KafkaCluster, postgres: Any, haproxy: Any, tmp_path: Path
) -> None:
    cluster = kafka_cluster
    deployment = Deployment("kafka", tmp_path, postgres.url, kafka_bootstrap=cluster.bootstrap)
    figures = await FaultRun(deployment, cluster, postgres, haproxy, DOCUMENTS).run()

    assert figures.acknowledged == figures.sent == DOCUMENTS
    assert figures.lost == 0
    assert figures.delivered == figures.deliveries == 3 * DOCUMENTS
    assert [fault.repaired > fault.began for fault, _, _ in figures.faults] == [True] * 6
