"""The overview's figures, measured in one place for the page's first render and its live
stream alike.

Rates come from the audit log, read by position: every entry after the previous sample's
last position is counted once, however late the audit writer wrote it (counting by event
time would lose the ones written after their window was sampled). Latency is submit to
delivered (the document's receipt to its delivery's `delivery.delivered`) over the last
minute. Lag is the bus's own, per consumer group and partition. Only a few indexed queries
per sample, whatever the size of the tables.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.api.dead_letters import dead_letter_count
from axis.audit.tree import last_checkpoint
from axis.audit.tree import log_size as tree_log_size
from axis.audit.writer import AUDIT_GROUP
from axis.bus import Bus
from axis.bus.topics import DELIVERIES, DOCUMENTS, EVENTS, RETRY_TIERS
from axis.config import Settings
from axis.delivery.retry import RETRY_GROUP
from axis.delivery.router import ROUTER_GROUP
from axis.delivery.worker import DELIVERY_GROUP
from axis.storage.models import AuditEntry, Document
from schemas.events import EventType

GROUPS: tuple[tuple[str, Sequence[str]], ...] = (
    (ROUTER_GROUP, [DOCUMENTS]),
    (DELIVERY_GROUP, [DELIVERIES]),
    (RETRY_GROUP, RETRY_TIERS),
    (AUDIT_GROUP, [EVENTS]),
)
"""Every consumer group of the axis and what it reads."""
COUNTED = {
    EventType.DOCUMENT_ACCEPTED: "accepted",
    EventType.DOCUMENT_REJECTED: "rejected",
    EventType.DELIVERY_DELIVERED: "delivered",
    EventType.DELIVERY_RETRYING: "retrying",
    EventType.DELIVERY_DEAD: "dead",
}
"""The audit event types counted per second, and their names in a sample."""
LATENCY_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class Sample:
    """The figures at one moment; `seq` orders the samples of one process."""

    seq: int
    at: float
    """Unix time, seconds."""
    rates: dict[str, float]
    """Per second since the previous sample: accepted, rejected, delivered, retrying, dead."""
    latency_p50: float | None
    latency_p99: float | None
    lags: tuple[PartitionLag, ...]
    log_size: int
    checkpoint_age: float | None
    """Seconds since the last signed checkpoint; None before the first."""
    unsigned_for: float
    """Seconds the oldest entry not covered by a signed checkpoint has waited (0: none)."""
    dead_letters: int

    def group_lags(self) -> dict[str, int]:
        """Total lag of each consumer group."""
        totals = {group: 0 for group, _ in GROUPS}
        for lag in self.lags:
            totals[lag.group] = totals.get(lag.group, 0) + lag.lag
        return totals

    def worst_partition(self, group: str) -> PartitionLag | None:
        lags = [lag for lag in self.lags if lag.group == group]
        return max(lags, key=lambda lag: lag.lag) if lags else None

    @property
    def audit_lag(self) -> int:
        """Events published and not yet in the audit log."""
        return self.group_lags()[AUDIT_GROUP]

    def alerts(self, settings: Settings) -> list[tuple[str, dict[str, object]]]:
        """The thresholds crossed, as i18n keys of the banner and their values."""
        crossed: list[tuple[str, dict[str, object]]] = []
        limit = settings.console_alert_lag_records
        for group, lag in self.group_lags().items():
            worst = self.worst_partition(group)
            if worst is not None and worst.lag >= limit:
                crossed.append(("alert_lag", {"group": group, "lag": lag, "limit": limit}))
        p99_limit = settings.console_alert_latency_p99_seconds
        if self.latency_p99 is not None and self.latency_p99 > p99_limit:
            value = f"{self.latency_p99:.1f}"
            crossed.append(("alert_latency", {"value": value, "limit": f"{p99_limit:g}"}))
        unsigned_limit = settings.console_alert_unsigned_seconds
        if self.unsigned_for > unsigned_limit:
            value = f"{self.unsigned_for:.0f}"
            crossed.append(("alert_unsigned", {"value": value, "limit": f"{unsigned_limit:g}"}))
        if self.dead_letters >= settings.console_alert_dead_letters:
            limit = settings.console_alert_dead_letters
            crossed.append(("alert_dead_letters", {"value": self.dead_letters, "limit": limit}))
        return crossed

    def to_json(self) -> dict[str, Any]:
        """What the charts draw: the rates and each group's total lag, at `at`."""
        return {"seq": self.seq, "at": self.at, "rates": self.rates, "lags": self.group_lags()}


@dataclass
class Figures:
    """Measures a `Sample` each time it is asked, counting from where the last one ended."""

    readers: async_sessionmaker[AsyncSession]
    bus: Bus
    seq: int = 0
    position: int | None = None
    """The audit log size at the last sample: entries from here on are new."""
    at: float = 0.0
    latencies: deque[tuple[float, float]] = field(default_factory=deque)
    """(when noted, seconds from receipt to delivery) over the last minute."""

    async def measure(self) -> Sample:
        now = time.time()
        async with self.readers() as session:
            log_size = await tree_log_size(session)
            counts = {name: 0 for name in COUNTED.values()}
            if self.position is not None and log_size > self.position:
                counts |= await self._counts(session, self.position, log_size)
                await self._note_latencies(session, self.position, log_size, now)
            checkpoint = await last_checkpoint(session)
            signed = checkpoint[0] if checkpoint is not None else 0
            unsigned_since = None
            if log_size > signed:
                unsigned_since = await session.scalar(
                    select(AuditEntry.at).where(AuditEntry.position == signed)
                )
            dead = await dead_letter_count(session)
        lags = []
        for group, topics in GROUPS:
            for lag in await self.bus.lag(group, topics):
                lags.append(PartitionLag(group, lag.topic, lag.partition, lag.lag))
        elapsed = now - self.at if self.position is not None else 0.0
        self.seq += 1
        self.position, self.at = log_size, now
        while self.latencies and self.latencies[0][0] < now - LATENCY_WINDOW_SECONDS:
            self.latencies.popleft()
        p50, p99 = _percentiles(sorted(latency for _, latency in self.latencies))
        return Sample(
            seq=self.seq,
            at=now,
            rates={name: count / elapsed if elapsed else 0.0 for name, count in counts.items()},
            latency_p50=p50,
            latency_p99=p99,
            lags=tuple(lags),
            log_size=log_size,
            checkpoint_age=now - checkpoint[1].timestamp() if checkpoint is not None else None,
            unsigned_for=_age(now, unsigned_since),
            dead_letters=dead,
        )

    @staticmethod
    async def _counts(session: AsyncSession, start: int, end: int) -> dict[str, int]:
        rows = await session.execute(
            select(AuditEntry.event_type, func.count())
            .where(AuditEntry.position >= start, AuditEntry.position < end)
            .where(AuditEntry.event_type.in_([str(kind) for kind in COUNTED]))
            .group_by(AuditEntry.event_type)
        )
        return {COUNTED[EventType(kind)]: count for kind, count in rows.all()}

    async def _note_latencies(
        self, session: AsyncSession, start: int, end: int, now: float
    ) -> None:
        """Note how long each document delivered since `start` took from its receipt."""
        delivered = (
            await session.execute(
                select(AuditEntry.entry, AuditEntry.at, AuditEntry.document_id).where(
                    AuditEntry.position >= start,
                    AuditEntry.position < end,
                    AuditEntry.event_type == str(EventType.DELIVERY_DELIVERED),
                )
            )
        ).all()
        documents = [
            (document_id, at)
            for entry, at, document_id in delivered
            if document_id is not None and json.loads(entry)["event"]["data"]["kind"] == "edoc"
        ]
        if not documents:
            return
        ids = {document_id for document_id, _ in documents}
        received = dict(
            (
                await session.execute(
                    select(Document.id, Document.received_at).where(Document.id.in_(ids))
                )
            ).all()
        )
        for document_id, at in documents:
            if document_id in received:
                latency = (at - received[document_id]).total_seconds()
                self.latencies.append((now, max(latency, 0.0)))


def _percentiles(ordered: list[float]) -> tuple[float | None, float | None]:
    """p50 and p99 (nearest rank) of `ordered`."""
    if not ordered:
        return None, None

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    return rank(0.50), rank(0.99)


def _age(now: float, since: datetime | None) -> float:
    return max(now - since.timestamp(), 0.0) if since is not None else 0.0
