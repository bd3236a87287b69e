"""Prometheus metrics, scraped at `/metrics`.

Counters and histograms are counted where their event happens (documents in
`axis.pipeline.ingest`, deliveries in `axis.delivery.lifecycle`, refusals in
`axis.api.refusals`). The figures below are states of the whole axis rather than events of
this process: they are read from the bus and the database when scraped, so every API process
reports the same values (aggregate them with `max`, not `sum`).

Under `axis serve --workers N` (`axis.processes`) every process counts into files of
prometheus_client's multiprocess mode, and any API process's `/metrics` answers for the
whole node: counters and histograms added up over its processes, the figures below as the
scraping process last read them (a partition the bus stops answering for keeps its last lag).
"""

from __future__ import annotations

import logging
import math
import os

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
    multiprocess,
)
from sqlalchemy.ext.asyncio import AsyncSession

from axis.api.dead_letters import dead_letter_count
from axis.api.front_door import FrontDoorRoute
from axis.audit.tree import last_checkpoint, log_size
from axis.audit.writer import AUDIT_GROUP
from axis.bus import Bus, BusError
from axis.bus.topics import DELIVERIES, DOCUMENTS, EVENTS, RETRY_TIERS
from axis.delivery.retry import RETRY_GROUP
from axis.delivery.router import ROUTER_GROUP
from axis.delivery.worker import DELIVERY_GROUP
from axis.storage.models import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"], route_class=FrontDoorRoute)

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
"""Read once, as prometheus_client reads it when imported."""

CONSUMER_GROUPS = {
    ROUTER_GROUP: [DOCUMENTS],
    DELIVERY_GROUP: [DELIVERIES],
    RETRY_GROUP: list(RETRY_TIERS),
    AUDIT_GROUP: [EVENTS],
}
"""Every consumer group of the axis and the topics it reads."""

CONSUMER_LAG = Gauge(
    "axis_consumer_lag",
    "Records a consumer group has yet to commit, per topic and partition (absent while the "
    "bus cannot be read)",
    ["group", "topic", "partition"],
    multiprocess_mode="mostrecent",
)
AUDIT_LOG_ENTRIES = Gauge(
    "axis_audit_log_entries", "Entries in the audit log", multiprocess_mode="mostrecent"
)
CHECKPOINT_SIZE = Gauge(
    "axis_audit_checkpoint_size",
    "Entries covered by the last signed checkpoint (0: none yet)",
    multiprocess_mode="mostrecent",
)
CHECKPOINT_AGE = Gauge(
    "axis_audit_checkpoint_age_seconds",
    "Seconds since the last signed checkpoint (NaN before the first one)",
    multiprocess_mode="mostrecent",
)
DEAD_LETTERS = Gauge(
    "axis_dead_letters", "Deliveries that are dead letters now", multiprocess_mode="mostrecent"
)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Every metric of this process (of every process of the node, see above) in the
    Prometheus text format."""
    await _read_consumer_lag(request.app.state.bus)
    async with request.app.state.readers() as session:
        await _read_audit_and_dead_letters(session)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


async def _read_consumer_lag(bus: Bus) -> None:
    if not MULTIPROCESS:  # which cannot forget a label
        CONSUMER_LAG.clear()  # a partition that cannot be read shows as absent, not as stale
    for group, topics in CONSUMER_GROUPS.items():
        try:
            lags = await bus.lag(group, topics)
        except BusError:
            logger.warning("cannot read the lag of consumer group %s", group, exc_info=True)
            continue
        for lag in lags:
            CONSUMER_LAG.labels(group, lag.topic, str(lag.partition)).set(lag.lag)


async def _read_audit_and_dead_letters(session: AsyncSession) -> None:
    AUDIT_LOG_ENTRIES.set(await log_size(session))
    last = await last_checkpoint(session)
    CHECKPOINT_SIZE.set(0 if last is None else last[0])
    CHECKPOINT_AGE.set(math.nan if last is None else (utcnow() - last[1]).total_seconds())
    DEAD_LETTERS.set(await dead_letter_count(session))
