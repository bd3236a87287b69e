"""The service fixtures give working services: a real Kafka broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from deploy.kafka.launcher import KafkaNode

# aiokafka retries forever while a broker is missing: bound each test well below pytest's 300s.
TIMEOUT = 120


async def _create_topic(bootstrap: str) -> str:
    topic = f"axis-selftest-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume_one(bootstrap: str, topic: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"axis-selftest-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    assert record.value is not None
    return bytes(record.value)


@pytest.mark.kafka
async def test_kafka_restart_keeps_data_and_address(kafka_node: KafkaNode) -> None:
    """A crash (SIGKILL) and restart keeps the address and the acknowledged records."""
    bootstrap = kafka_node.bootstrap
    async with asyncio.timeout(TIMEOUT):
        topic = await _create_topic(bootstrap)
        await _produce(bootstrap, topic, b"before the crash")
        assert await asyncio.to_thread(kafka_node.restart, hard=True) == bootstrap
        assert await _consume_one(bootstrap, topic) == b"before the crash"


@pytest.mark.kafka
async def test_kafka_topic_produce_consume(kafka_bootstrap: str) -> None:
    """Runs after the restart test too: the restarted broker must outlive the test's thread."""
    async with asyncio.timeout(TIMEOUT):
        topic = await _create_topic(kafka_bootstrap)
        await _produce(kafka_bootstrap, topic, b"hello axis")
        assert await _consume_one(kafka_bootstrap, topic) == b"hello axis"


@pytest.mark.postgres
async def test_postgres_select_version_asyncpg(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        version = await conn.fetchval("select version()")
    finally:
        await conn.close()
    assert str(version).startswith("PostgreSQL")


@pytest.mark.postgres
async def test_postgres_select_version_sqlalchemy(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("select version()"))).scalar_one()
    finally:
        await engine.dispose()
    assert str(version).startswith("PostgreSQL")
