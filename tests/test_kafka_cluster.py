"""The axis's Kafka bus on a three-broker cluster (`kafka_cluster`: KRaft, replication factor 3,
`min.insync.replicas=2`, unclean leader election off).

What it shows: the axis's topics get three replicas and need two in sync; a record the bus
acknowledged survives the crash of its partition's leader, and publishing goes on with the two
survivors; with two brokers down a publish is refused (NOT_ENOUGH_REPLICAS), never
acknowledged, until one returns; a restarted broker's replicas rejoin the in-sync set.

Two of three combined nodes down also means no controller quorum, so the cluster's metadata
freezes as it was. The second broker is therefore stopped cleanly: its controlled shutdown
takes it out of the in-sync replicas while the quorum still stands, which leaves the
survivor leading with one in-sync replica and answering NOT_ENOUGH_REPLICAS. (Killed instead,
it stays listed in sync and a write waits for it, also unacknowledged.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from axis.bus.base import Message
from axis.bus.factory import create_bus
from axis.bus.kafka import KafkaBus
from axis.bus.topics import DELIVERIES, DOCUMENTS, EVENTS, RETRY_TIERS, ensure_topics
from axis.config import Settings

if TYPE_CHECKING:
    from deploy.kafka.launcher import KafkaCluster

LAUNCHER = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "launcher.py"
STEP_SECONDS = 60.0
"""The longest any one step may take; restarting a broker (5-15 s here) is the slowest."""
TOPIC_CONFIG_SOURCE = 1  # DescribeConfigs: the value was set on the topic itself
NODES = [1, 2, 3]
T = TypeVar("T")


@contextlib.asynccontextmanager
async def axis_bus(cluster: KafkaCluster) -> AsyncIterator[KafkaBus]:
    """The axis's own Kafka bus on the cluster, its topics made by `ensure_topics`."""
    settings = Settings(
        bus="kafka",
        kafka_bootstrap=cluster.bootstrap,
        kafka_replication_factor=3,
        topic_namespace=f"test-{uuid.uuid4().hex[:12]}",
    )
    bus = create_bus(settings)
    assert isinstance(bus, KafkaBus)
    async with bus:
        await ensure_topics(bus, 1)
        yield bus


@pytest.fixture
async def admin(cluster: KafkaCluster) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def cluster(kafka_cluster: KafkaCluster) -> KafkaCluster:
    """The cluster with every node running: restarts what an earlier test left down."""
    await asyncio.to_thread(kafka_cluster.start)
    return kafka_cluster


async def launcher(cluster: KafkaCluster, *args: str) -> tuple[int, str]:
    """Run the launcher's command line on the cluster's run directory: exit code, output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LAUNCHER),
        *args,
        "--dir",
        str(cluster.run_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


def nodes_shown(output: str) -> list[list[str]]:
    """node, port, pid and running of each node line the launcher printed."""
    return [line.split()[:4] for line in output.splitlines() if line.startswith("node=")]


def nodes_expected(cluster: KafkaCluster, down: int | None = None) -> list[list[str]]:
    return [
        [f"node={i}", f"port={node.port}", "pid=none", "running=false"]
        if i == down
        else [f"node={i}", f"port={node.port}", f"pid={node.pid}", "running=true"]
        for i, node in cluster.nodes.items()
    ]


async def leader_and_isr(admin: AIOKafkaAdminClient, topic: str) -> tuple[int, list[int]]:
    """The leader and the in-sync replicas of the topic's partition 0, as told by the first
    broker asked that knows the topic (a new topic reaches the brokers one after another)."""
    while True:
        [described] = await admin.describe_topics([topic])
        for partition in described["partitions"]:
            if partition["partition"] == 0:
                return partition["leader"], sorted(partition["isr"])
        await asyncio.sleep(0.1)


async def settled(read: Callable[[], Awaitable[T]], expected: T) -> T | None:
    """What `read` returns once that is `expected`, else its last answer at the deadline.

    Brokers learn of a change one after another, and a request to a broker that is down
    fails: both count as not yet.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_SECONDS
    last: T | None = None
    while True:
        with contextlib.suppress(KafkaError, TimeoutError):
            last = await asyncio.wait_for(read(), 5)
            if last == expected:
                return last
        if loop.time() > deadline:
            return last
        await asyncio.sleep(0.1)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    if not await settled(check, True):
        pytest.fail(f"not within {STEP_SECONDS:.0f}s: {what}")


def messages(label: str, count: int) -> list[Message]:
    return [Message(DOCUMENTS, f"{label}-{i}".encode(), key=b"one key") for i in range(count)]


async def read_back(bus: KafkaBus, expected: list[Message]) -> set[bytes]:
    """What a new consumer group reads from the documents topic, once it has read `expected`
    (or the deadline passed)."""
    wanted = {m.value for m in expected}
    seen: set[bytes] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_SECONDS
    async with bus.consumer(f"read-{uuid.uuid4().hex[:8]}", [DOCUMENTS]) as consumer:
        while not wanted <= seen and loop.time() < deadline:
            seen |= {record.value for record in await consumer.getmany(max_wait=1.0)}
    return seen


async def test_the_axis_topics_have_three_replicas_and_need_two_in_sync(
    cluster: KafkaCluster, admin: AIOKafkaAdminClient
) -> None:
    async with asyncio.timeout(2 * STEP_SECONDS), axis_bus(cluster) as bus:
        topics = [bus.full_name(t) for t in (DOCUMENTS, DELIVERIES, EVENTS, *RETRY_TIERS)]

        async def replicas() -> dict[str, list[tuple[list[int], list[int]]]]:
            described = await admin.describe_topics(topics)
            return {
                t["topic"]: [(sorted(p["replicas"]), sorted(p["isr"])) for p in t["partitions"]]
                for t in described
            }

        expected_replicas = {topic: [(NODES, NODES)] for topic in topics}
        assert await settled(replicas, expected_replicas) == expected_replicas

        async def min_in_sync() -> dict[str, list[tuple[str, int]]]:
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
            )
            return {
                name: [(e[1], e[3]) for e in entries if e[0] == "min.insync.replicas"]
                for _, _, _, name, entries in response.resources
            }

        set_on_each_topic = {topic: [("2", TOPIC_CONFIG_SOURCE)] for topic in topics}
        assert await settled(min_in_sync, set_on_each_topic) == set_on_each_topic

        code, output = await launcher(cluster, "status")
        assert (code, nodes_shown(output)) == (0, nodes_expected(cluster))

        sent = messages("hello", 10)
        await bus.publish_many(sent)
        assert await read_back(bus, sent) == {m.value for m in sent}


async def test_a_crashed_leader_loses_nothing_acknowledged_and_rejoins(
    cluster: KafkaCluster, admin: AIOKafkaAdminClient
) -> None:
    async with asyncio.timeout(4 * STEP_SECONDS), axis_bus(cluster) as bus:
        topic = bus.full_name(DOCUMENTS)
        before = messages("before", 20)
        await bus.publish_many(before)
        leader, _ = await leader_and_isr(admin, topic)
        survivors = [node for node in NODES if node != leader]

        code, output = await launcher(cluster, "kill", "--node", str(leader))
        assert code == 0, output
        code, output = await launcher(cluster, "status")
        assert (code, nodes_shown(output)) == (3, nodes_expected(cluster, down=leader))
        after = messages("after", 20)
        await bus.publish_many(after)  # acks=all: acknowledged once both survivors have it

        async def survivors_lead() -> bool:
            new_leader, isr = await leader_and_isr(admin, topic)
            return new_leader in survivors and isr == survivors

        await eventually(survivors_lead, f"node {leader} out of the ISR of {topic}")
        assert await read_back(bus, before + after) == {m.value for m in before + after}

        await asyncio.to_thread(cluster.node(leader).start)

        async def rejoined() -> bool:
            described = await admin.describe_topics(
                [bus.full_name(t) for t in (DOCUMENTS, DELIVERIES, EVENTS, *RETRY_TIERS)]
            )
            return all(sorted(p["isr"]) == NODES for t in described for p in t["partitions"])

        await eventually(rejoined, f"node {leader} back in sync on every topic")


async def test_with_two_brokers_down_a_publish_is_refused_until_one_returns(
    cluster: KafkaCluster, admin: AIOKafkaAdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiokafka.producer.sender")
    async with asyncio.timeout(4 * STEP_SECONDS), axis_bus(cluster) as bus:
        topic = bus.full_name(DOCUMENTS)
        before = messages("before", 10)
        await bus.publish_many(before)
        crashed, _ = await leader_and_isr(admin, topic)
        stopped, survivor = [node for node in NODES if node != crashed]

        await asyncio.to_thread(cluster.node(crashed).kill)

        async def fenced() -> bool:
            return (await leader_and_isr(admin, topic))[1] == [stopped, survivor]

        await eventually(fenced, f"node {crashed} out of the ISR of {topic}")
        await asyncio.to_thread(cluster.node(stopped).stop)

        during = Message(DOCUMENTS, b"during", key=b"one key")
        publishing = asyncio.create_task(bus.publish_many([during]))

        async def refused() -> bool:
            return any("NotEnoughReplicas" in r.getMessage() for r in caplog.records)

        await eventually(refused, "a NOT_ENOUGH_REPLICAS answer to the publish")
        assert not publishing.done()

        await asyncio.to_thread(cluster.node(stopped).start)
        await asyncio.wait_for(publishing, STEP_SECONDS)
        sent = [*before, during]
        assert await read_back(bus, sent) == {m.value for m in sent}
