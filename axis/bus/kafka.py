"""The Kafka bus: aiokafka against a real Apache Kafka cluster, the production engine.

- The producer is idempotent with `acks=all`; a batch is sent without waiting between
  records and awaited as a whole (one record at a time is slow in aiokafka).
- aiokafka can wedge an idempotent producer on `OutOfOrderSequenceNumber` after broker
  trouble (aiokafka #1017): the producer is then recreated and the batch sent again. A
  record may so be stored twice; consumers are idempotent on ids, so that is harmless.
- Consumers commit manually. Offsets a member marked done are committed when its
  partitions are revoked, so a rebalance redelivers as little as possible.
- Topic and group names carry the configured namespace, so several axes can share a cluster.
- Topics the axis creates say their retention (`retention.ms`, `cleanup.policy=delete`)
  rather than inherit the broker's; Kafka deletes by age alone, whatever a group has read.
  Topics that exist already are left as they are.
- A replicated topic says its `min.insync.replicas` too (a majority of its replicas: 2 of 3):
  `acks=all` waits only for the replicas in sync, and under Kafka's default of 1 a record
  could be acknowledged by the leader alone once its followers fell behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, OutOfOrderSequenceNumber
from aiokafka.structs import OffsetAndMetadata
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from axis.bus.base import (
    Bus,
    BusError,
    Consumer,
    Message,
    PartitionLag,
    Position,
    Record,
    TopicPartition,
)

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = 8 * 1024 * 1024
TOPIC_ALREADY_EXISTS = 36
TOPIC_READY_SECONDS = 30
T = TypeVar("T")


class KafkaBus(Bus):
    """The bus on Apache Kafka."""

    engine = "kafka"

    def __init__(
        self,
        bootstrap: str,
        *,
        namespace: str = "axis",
        replication_factor: int = 1,
        session_timeout: float = 10.0,
        retention: timedelta | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.retention = retention
        self.namespace = namespace
        self.replication_factor = replication_factor
        self.session_timeout = session_timeout
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets_reader: AIOKafkaConsumer | None = None

    def full_name(self, name: str) -> str:
        return f"{self.namespace}.{name}"

    def short_name(self, full_name: str) -> str:
        return full_name.removeprefix(f"{self.namespace}.")

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        self._offsets_reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            await self._admin.start()
            await self._offsets_reader.start()
            self._producer = await self._new_producer()
        except KafkaError as exc:
            await self.close()
            raise BusError(f"Kafka at {self.bootstrap} does not answer: {exc}") from exc

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_batch_size=256 * 1024,
            max_request_size=MAX_RECORD_BYTES,
        )
        await producer.start()
        return producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._offsets_reader is not None:
            await self._offsets_reader.stop()
        if self._admin is not None:
            await self._admin.close()
        self._producer = self._admin = self._offsets_reader = None

    def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise BusError("the bus is not started")
        return self._admin

    async def ping(self) -> None:
        try:
            await asyncio.wait_for(self._admin_client().describe_cluster(), timeout=5)
        except (KafkaError, TimeoutError) as exc:
            raise BusError(f"Kafka at {self.bootstrap} does not answer: {exc!r}") from exc

    async def create_topic(self, topic: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("a topic needs at least one partition")
        new_topic = NewTopic(
            self.full_name(topic),
            num_partitions=partitions,
            replication_factor=self.replication_factor,
            topic_configs=self._topic_configs(),
        )
        deadline = asyncio.get_running_loop().time() + TOPIC_READY_SECONDS
        response = await _retrying(
            lambda: self._admin_client().create_topics([new_topic]), deadline
        )
        for name, error_code, *rest in response.topic_errors:
            if error_code not in (0, TOPIC_ALREADY_EXISTS):
                raise BusError(f"cannot create topic {name}: error {error_code} {rest}")
        await self._wait_for_leaders(self.full_name(topic), deadline)

    def _topic_configs(self) -> dict[str, str]:
        configs = {"max.message.bytes": str(MAX_RECORD_BYTES)}
        if self.replication_factor > 1:
            configs["min.insync.replicas"] = str(self.replication_factor // 2 + 1)
        if self.retention is not None:
            retention_ms = int(self.retention.total_seconds() * 1000)
            configs |= {"retention.ms": str(retention_ms), "cleanup.policy": "delete"}
        return configs

    async def _wait_for_leaders(self, full_name: str, deadline: float) -> None:
        """A new topic takes a moment to elect leaders; publishing earlier only logs errors."""
        while True:
            [described] = await _retrying(
                lambda: self._admin_client().describe_topics([full_name]), deadline
            )
            leaders = [p["leader"] for p in described["partitions"]]
            if described["error_code"] == 0 and leaders and min(leaders) >= 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise BusError(f"topic {full_name} has no leader after {TOPIC_READY_SECONDS} s")
            await asyncio.sleep(0.1)

    async def publish_many(self, messages: Sequence[Message]) -> list[Position]:
        if self._producer is None:
            raise BusError("the bus is not started")
        try:
            return await self._send(messages)
        except OutOfOrderSequenceNumber:
            logger.warning("Kafka producer wedged on a sequence number; recreating it")
            await self._producer.stop()
            self._producer = await self._new_producer()
            return await self._send(messages)

    async def _send(self, messages: Sequence[Message]) -> list[Position]:
        assert self._producer is not None
        try:
            futures = [
                await self._producer.send(
                    self.full_name(m.topic), m.value, key=m.key, headers=list(m.headers)
                )
                for m in messages
            ]
            metadata = await asyncio.gather(*futures)
        except OutOfOrderSequenceNumber:
            raise
        except KafkaError as exc:
            raise BusError(f"publish failed: {exc!r}") from exc
        return [
            Position(m.topic, md.partition, md.offset)
            for m, md in zip(messages, metadata, strict=True)
        ]

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        return KafkaConsumer(self, group, list(topics))

    async def lag(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        admin = self._admin_client()
        assert self._offsets_reader is not None
        described = await admin.describe_topics([self.full_name(t) for t in topics])
        partitions = [
            KafkaTopicPartition(topic["topic"], p["partition"])
            for topic in described
            for p in topic["partitions"]
        ]
        committed = await admin.list_consumer_group_offsets(self.full_name(group))
        ends = await self._offsets_reader.end_offsets(partitions)
        return sorted(
            (
                PartitionLag(
                    self.short_name(tp.topic),
                    tp.partition,
                    committed[tp].offset if tp in committed else None,
                    ends[tp],
                )
                for tp in partitions
            ),
            key=lambda lag: (lag.topic, lag.partition),
        )


async def _retrying(call: Callable[[], Awaitable[T]], deadline: float) -> T:
    """`call()`, asked again while Kafka says the failure is passing (a broker that went
    away, a leader being elected) until the event loop's clock reaches `deadline`: a process
    starting while a broker fails waits for the cluster instead of exiting."""
    while True:
        try:
            return await call()
        except KafkaError as exc:
            if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                raise BusError(f"Kafka refused: {exc!r}") from exc
            logger.warning("Kafka not ready (%r); asking again", exc)
        await asyncio.sleep(0.5)


class KafkaConsumer(Consumer, ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer group member on Kafka; commits what is done when partitions are revoked."""

    def __init__(self, bus: KafkaBus, group: str, topics: list[str]) -> None:
        self._bus = bus
        self._group = group
        self._topics = topics
        self._done: dict[KafkaTopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    def _client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise BusError("the consumer is not started")
        return self._consumer

    def _kafka_tp(self, tp: TopicPartition) -> KafkaTopicPartition:
        return KafkaTopicPartition(self._bus.full_name(tp.topic), tp.partition)

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bus.bootstrap,
            group_id=self._bus.full_name(self._group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=MAX_RECORD_BYTES * 4,
            session_timeout_ms=int(self._bus.session_timeout * 1000),
            heartbeat_interval_ms=int(self._bus.session_timeout * 1000 / 4),
        )
        self._consumer.subscribe([self._bus.full_name(t) for t in self._topics], listener=self)
        try:
            await self._consumer.start()
        except BaseException as exc:
            # A start that failed or was cancelled (a worker stopping while it joins) still
            # left the client's tasks running: stop them, or they outlive the event loop.
            await self.stop()
            if isinstance(exc, KafkaError):
                raise BusError(f"cannot join group {self._group}: {exc!r}") from exc
            raise

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def getmany(self, max_wait: float = 1.0, max_records: int = 500) -> list[Record]:
        batches = await self._client().getmany(
            timeout_ms=int(max_wait * 1000), max_records=max_records
        )
        return [
            Record(
                self._bus.short_name(r.topic),
                r.partition,
                r.offset,
                r.key,
                r.value,
                tuple(r.headers),
                r.timestamp,
            )
            for records in batches.values()
            for r in records
        ]

    async def commit(self, records: Iterable[Record] = ()) -> None:
        for record in records:
            tp = self._kafka_tp(record.topic_partition)
            self._done[tp] = max(self._done.get(tp, 0), record.offset + 1)
        await self._commit_done(self._client().assignment())

    async def _commit_done(self, partitions: Iterable[KafkaTopicPartition]) -> None:
        offsets = {
            tp: OffsetAndMetadata(self._done[tp], "") for tp in partitions if tp in self._done
        }
        if not offsets:
            return
        try:
            await self._client().commit(offsets)
        except CommitFailedError:
            # The group rebalanced under us; the new owner will read these records again.
            logger.info("commit after a rebalance dropped; records will be redelivered")

    def assignment(self) -> set[TopicPartition]:
        return {
            TopicPartition(self._bus.short_name(tp.topic), tp.partition)
            for tp in self._client().assignment()
        }

    def pause(self, partition: TopicPartition) -> None:
        self._client().pause(self._kafka_tp(partition))

    def resume(self, partition: TopicPartition) -> None:
        self._client().resume(self._kafka_tp(partition))

    async def on_partitions_revoked(self, revoked: set[KafkaTopicPartition]) -> None:
        await self._commit_done(revoked)
        for tp in revoked:
            self._done.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[KafkaTopicPartition]) -> None:
        """Positions come from the committed offsets; nothing to do."""
