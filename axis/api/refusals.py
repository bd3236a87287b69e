"""Flood-type refusals (rate, authentication, size, time) are counted, not audited one by one.

A flood of refused requests must cost the axis little: each refusal increments a Prometheus
counter and a tally per agency and reason, and `summarise_forever` publishes one
`requests.refused` audit event per tally and period. Refusals of documents (a bad
envelope) are evidence and keep their own audit event: they never come here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter

from axis.bus import Bus, BusError
from axis.events import Event, publish_events
from schemas.events import RequestsRefused

logger = logging.getLogger(__name__)

REFUSED = Counter(
    "axis_requests_refused_total",
    "Requests refused before their handler read them, by reason and agency ('' unknown)",
    ["reason", "agency"],
)


@dataclass
class _Tally:
    status: int
    count: int
    first_at: datetime
    last_at: datetime


class RefusalLog:
    """The refusals since the last summary, per (agency, reason)."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str | None, str], _Tally] = {}

    def note(self, agency_code: str | None, reason: str, status: int) -> None:
        REFUSED.labels(reason, agency_code or "").inc()
        now = datetime.now(UTC)
        tally = self._tallies.get((agency_code, reason))
        if tally is None:
            self._tallies[agency_code, reason] = _Tally(status, 1, now, now)
        else:
            tally.count += 1
            tally.last_at = now

    def summary(self) -> list[Event]:
        """One `requests.refused` event per tally, and a fresh start."""
        tallies, self._tallies = self._tallies, {}
        return [
            Event.of(
                RequestsRefused(
                    reason=reason,
                    status=tally.status,
                    count=tally.count,
                    first_at=tally.first_at.isoformat(),
                    last_at=tally.last_at.isoformat(),
                ),
                actor="axis",
                agency_code=agency_code,
            )
            for (agency_code, reason), tally in tallies.items()
        ]


async def summarise_forever(log: RefusalLog, bus: Bus, every: float) -> None:
    """Publish the summary every `every` seconds (nothing when nothing was refused)."""
    while True:
        await asyncio.sleep(every)
        events = log.summary()
        try:
            await publish_events(bus, events)
        except BusError:
            logger.exception("could not record %d %s events", len(events), "requests.refused")
