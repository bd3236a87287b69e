"""Build the configured bus engine and the axis's topics."""

from __future__ import annotations

from datetime import timedelta

from axis.bus.base import Bus
from axis.bus.embedded import EmbeddedBus
from axis.bus.kafka import KafkaBus
from axis.config import Settings


def create_bus(settings: Settings) -> Bus:
    """The engine named by `settings.bus`, not yet started."""
    retention = timedelta(hours=settings.bus_retention_hours)
    if settings.bus == "kafka":
        return KafkaBus(
            settings.kafka_bootstrap,
            namespace=settings.topic_namespace,
            replication_factor=settings.kafka_replication_factor,
            retention=retention,
        )
    return EmbeddedBus(settings.resolved_bus_path, retention=retention)
