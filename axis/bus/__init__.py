"""The bus: one small interface (`Bus`), two engines (`kafka`, `embedded`)."""

from axis.bus.base import (
    Bus,
    BusError,
    Consumer,
    Headers,
    Message,
    PartitionLag,
    Position,
    Record,
    TopicPartition,
)

__all__ = [
    "Bus",
    "BusError",
    "Consumer",
    "Headers",
    "Message",
    "PartitionLag",
    "Position",
    "Record",
    "TopicPartition",
]
