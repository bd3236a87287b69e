"""A process that creates its topics while a broker fails (kafka -9 during a worker's start)
asks again instead of exiting; what Kafka says will not pass is a BusError at once.

The admin client is an in-process stand-in: which broker aiokafka asks, and so whether it
meets the dead one, cannot be chosen from outside (tests/e2e/test_e2e_faults.py meets it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from axis.bus import BusError
from axis.bus.kafka import KafkaBus


class FlakyAdmin:
    """Fails each call `failures` times with `error`, then answers as Kafka does."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    async def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise self.error

    async def create_topics(self, topics: list[Any]) -> Any:
        await self._maybe_fail()
        return SimpleNamespace(topic_errors=[(topics[0].name, 0, None)])

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        await self._maybe_fail()
        return [{"error_code": 0, "partitions": [{"partition": 0, "leader": 2}]}]


def bus_with(admin: FlakyAdmin) -> KafkaBus:
    bus = KafkaBus("127.0.0.1:1", namespace="t")
    bus._admin = admin
    return bus


async def test_a_broker_not_ready_is_asked_again() -> None:
    admin = FlakyAdmin(NodeNotReadyError("node 1 is not ready"), failures=3)
    await bus_with(admin).create_topic("documents", 1)
    assert admin.calls == 5  # three refusals, then create and describe


async def test_what_will_not_pass_is_refused_at_once() -> None:
    admin = FlakyAdmin(TopicAuthorizationFailedError(), failures=1)
    with pytest.raises(BusError, match="TopicAuthorizationFailed"):
        await bus_with(admin).create_topic("documents", 1)
    assert admin.calls == 1
