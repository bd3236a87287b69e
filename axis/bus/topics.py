"""The topics of the axis and how many partitions each has.

Documents are keyed by document id and deliveries by recipient, so they spread over many
partitions; the audit writer needs every event in one order, so events have one partition.
"""

from __future__ import annotations

from axis.bus.base import Bus

DOCUMENTS = "documents"
DELIVERIES = "deliveries"
EVENTS = "events"
RETRY_TIERS = tuple(f"deliveries.retry.{tier}" for tier in range(1, 5))
"""One topic per retry wait: every record in a tier waits as long, so a partition's head
is always the first one due and a consumer can pause the partition until then."""


async def ensure_topics(bus: Bus, partitions: int) -> None:
    """Create the axis's topics where they do not exist yet."""
    await bus.create_topic(DOCUMENTS, partitions)
    await bus.create_topic(DELIVERIES, partitions)
    await bus.create_topic(EVENTS, 1)
    for tier in RETRY_TIERS:
        await bus.create_topic(tier, partitions)
