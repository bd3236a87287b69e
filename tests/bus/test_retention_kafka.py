"""Topics the axis creates on Kafka carry the configured retention, read back from the broker."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from axis.bus.factory import create_bus
from axis.bus.kafka import MAX_RECORD_BYTES, KafkaBus
from axis.bus.topics import DOCUMENTS, EVENTS, RETRY_TIERS, ensure_topics
from axis.config import Settings

CHECKED = ("retention.ms", "cleanup.policy", "max.message.bytes")


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """`CHECKED` configs of each topic, as the broker describes them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        [response] = await admin.describe_configs(resources)
    finally:
        await admin.close()
    found: dict[str, dict[str, str]] = {}
    for error_code, _, _, name, entries in response.resources:
        assert error_code == 0, name
        found[name] = {entry[0]: entry[1] for entry in entries if entry[0] in CHECKED}
    return found


async def test_the_axis_topics_keep_records_as_long_as_configured(kafka_bootstrap: str) -> None:
    settings = Settings(
        bus="kafka",
        kafka_bootstrap=kafka_bootstrap,
        topic_namespace=f"test-{uuid.uuid4().hex[:12]}",
        bus_retention_hours=36,
    )
    bus = create_bus(settings)
    assert isinstance(bus, KafkaBus)
    async with bus:
        await ensure_topics(bus, 2)
        topics = [bus.full_name(topic) for topic in (DOCUMENTS, EVENTS, RETRY_TIERS[-1])]
        configs = await topic_configs(kafka_bootstrap, topics)

    expected = {
        "retention.ms": str(36 * 3600 * 1000),
        "cleanup.policy": "delete",
        "max.message.bytes": str(MAX_RECORD_BYTES),
    }
    assert configs == dict.fromkeys(topics, expected)
