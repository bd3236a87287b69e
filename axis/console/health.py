"""Each agency's health at a glance, for the operator's agencies pages: its last delivery,
whether deliveries to it are failing (the last error, when the next retry is due), its dead
letters, inbox items it has not acknowledged in time, and the days its certificate has left.

A handful of grouped queries for every agency at once; the last error and next retry are
read only for the agencies that are failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.registry import directory
from axis.storage.models import AuditEntry, Delivery, DeliveryState, utcnow
from schemas.events import EventType

CERTIFICATE_WARNING_DAYS = 30


@dataclass(frozen=True)
class AgencyHealth:
    code: str
    name: str
    level: str
    active: bool
    last_delivered: datetime | None
    retrying: int
    dead: int
    overdue: int
    certificate_days: int | None
    """Days until its current certificate expires; None without a valid one."""
    last_error: str | None = None
    next_retry: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.retrying > 0

    @property
    def troubled(self) -> bool:
        expiring = self.certificate_days is None or self.certificate_days < CERTIFICATE_WARNING_DAYS
        return self.failing or self.dead > 0 or self.overdue > 0 or expiring


async def agencies_health(
    session: AsyncSession, overdue_seconds: int, code: str | None = None
) -> list[AgencyHealth]:
    """The health of every agency (or of `code` alone), ordered by code."""
    now = utcnow()
    entries = [entry for entry in await directory(session) if code is None or entry.code == code]
    last_delivered = select(Delivery.recipient_code, func.max(Delivery.delivered_at)).group_by(
        Delivery.recipient_code
    )
    last = dict((await session.execute(last_delivered)).tuples().all())
    states: dict[tuple[str, DeliveryState], int] = {}
    by_state = (
        select(Delivery.recipient_code, Delivery.state, func.count())
        .where(Delivery.state.in_((DeliveryState.RETRYING, DeliveryState.DEAD)))
        .group_by(Delivery.recipient_code, Delivery.state)
    )
    for recipient, state, count in (await session.execute(by_state)).tuples():
        states[recipient, state] = count
    overdue_before = now - timedelta(seconds=overdue_seconds)
    unacknowledged = (
        select(Delivery.recipient_code, func.count())
        .where(Delivery.state == DeliveryState.DELIVERED, Delivery.delivered_at < overdue_before)
        .group_by(Delivery.recipient_code)
    )
    overdue = dict((await session.execute(unacknowledged)).tuples().all())
    found = []
    for entry in entries:
        health = AgencyHealth(
            code=entry.code,
            name=entry.name,
            level=entry.level.value,
            active=entry.active,
            last_delivered=last.get(entry.code),
            retrying=states.get((entry.code, DeliveryState.RETRYING), 0),
            dead=states.get((entry.code, DeliveryState.DEAD), 0),
            overdue=overdue.get(entry.code, 0),
            certificate_days=(
                (entry.certificate.not_after - now).days if entry.certificate else None
            ),
        )
        if health.failing:
            health = await _with_last_failure(session, health)
        found.append(health)
    return found


async def _with_last_failure(session: AsyncSession, health: AgencyHealth) -> AgencyHealth:
    """The failing agency's last error and when the next retry is due (the latest
    `delivery.retrying` event's time plus its delay)."""
    last_error = await session.scalar(
        select(Delivery.last_error)
        .where(Delivery.recipient_code == health.code, Delivery.state == DeliveryState.RETRYING)
        .order_by(Delivery.queued_at.desc())
        .limit(1)
    )
    latest = await session.scalar(
        select(AuditEntry.entry)
        .where(
            AuditEntry.agency_code == health.code,
            AuditEntry.event_type == EventType.DELIVERY_RETRYING.value,
        )
        .order_by(AuditEntry.position.desc())
        .limit(1)
    )
    next_retry = None
    if latest is not None:
        event = json.loads(latest)["event"]
        at = datetime.fromisoformat(event["at"])
        next_retry = at + timedelta(seconds=float(event["data"]["delay_s"]))
    return replace(health, last_error=last_error, next_retry=next_retry)
