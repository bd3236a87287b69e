"""The one interface the rest of the axis uses to reach the bus.

Semantics (both engines honour them, `tests/contract/test_bus.py` checks it):
- `publish` returns only once the record is durable (Kafka: acks=all from an idempotent
  producer; embedded: fsynced SQLite commit). Records with the same key go to the same
  partition and keep their order.
- A consumer belongs to a group; the group's partitions are shared among its live members.
  A consumer commits only what it has processed; anything not committed is delivered again
  to whichever member owns the partition next (at-least-once).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True)
class Message:
    """A record to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()


@dataclass(frozen=True)
class Record:
    """A record as read back from the bus. `topic` is the name without the namespace."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp_ms: int = 0

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True)
class Position:
    """Where a published record landed."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class PartitionLag:
    """How far one group is behind on one partition; `committed` is None before any commit."""

    topic: str
    partition: int
    committed: int | None
    end_offset: int
    lag: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lag", self.end_offset - (self.committed or 0))


class BusError(Exception):
    """The bus could not do what was asked (unreachable, unknown topic, ...)."""


class Consumer(abc.ABC):
    """One member of a consumer group. Use `async with bus.consumer(...) as consumer:`."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Join the group."""

    @abc.abstractmethod
    async def getmany(self, max_wait: float = 1.0, max_records: int = 500) -> list[Record]:
        """Records from the assigned, unpaused partitions; empty after `max_wait` seconds."""

    @abc.abstractmethod
    async def commit(self, records: Iterable[Record] = ()) -> None:
        """Mark `records` processed and commit every processed offset of this consumer."""

    @abc.abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions this member owns now."""

    @abc.abstractmethod
    def pause(self, partition: TopicPartition) -> None:
        """Stop fetching from `partition` until `resume` (used for delayed retries)."""

    @abc.abstractmethod
    def resume(self, partition: TopicPartition) -> None:
        """Fetch from `partition` again."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Leave the group without committing anything more (like a crash, but polite)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class Bus(abc.ABC):
    """A partitioned, durable log with consumer groups."""

    engine: str

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; must be called before anything else."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and disconnect."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise `BusError` unless the bus answers now."""

    @abc.abstractmethod
    async def create_topic(self, topic: str, partitions: int) -> None:
        """Create `topic` with `partitions` partitions; nothing happens if it exists."""

    @abc.abstractmethod
    async def publish_many(self, messages: Sequence[Message]) -> list[Position]:
        """Publish a batch; returns once every record is durable, positions in input order."""

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Position:
        """Publish one record; returns once it is durable."""
        [position] = await self.publish_many([Message(topic, value, key, headers)])
        return position

    @abc.abstractmethod
    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """A new, not yet started member of `group` reading `topics`."""

    @abc.abstractmethod
    async def lag(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        """Committed offset and end offset of every partition of `topics` for `group`."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
