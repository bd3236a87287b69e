"""Build the configured bus engine and the axis's topics."""

from __future__ import annotations

from axis.bus.base import Bus
from axis.bus.embedded import EmbeddedBus
from axis.bus.kafka import KafkaBus
from axis.config import Settings


def create_bus(settings: Settings) -> Bus:
    """The engine named by `settings.bus`, not yet started."""
    if settings.bus == "kafka":
        return KafkaBus(
            settings.kafka_bootstrap,
            namespace=settings.topic_namespace,
            replication_factor=settings.kafka_replication_factor,
        )
    return EmbeddedBus(settings.resolved_bus_path)
