"""Test deliveries from the console: a job (`jobs.py`) that sends a signed ping through an
agency's adapter (`axis/delivery/ping.py`) and records it in the audit log as the
operator's action (`agency.pinged`, with the outcome), while the job's page waits for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from axis.bus import Bus
from axis.config import Settings
from axis.console.jobs import Jobs, new_id
from axis.delivery.adapters.base import Resources
from axis.delivery.ping import PingResult, ping
from axis.events import Origin, publish_events
from axis.storage.blobs import BlobStore
from schemas.events import AgencyPinged
from signing.identity import AxisIdentity

logger = logging.getLogger(__name__)


@dataclass
class PingJob:
    id: str
    agency_code: str
    result: PingResult | None = None
    failed: str | None = None
    finished: bool = False


@dataclass(frozen=True)
class PingContext:
    """What a ping needs of the running axis."""

    settings: Settings
    identity: AxisIdentity
    blobs: BlobStore
    bus: Bus


def start_ping(
    jobs: Jobs, context: PingContext, origin: Origin, agency_code: str, delivery: dict[str, Any]
) -> PingJob:
    """Ping the agency registered with `delivery` in the background; returns at once."""
    job = PingJob(new_id(), agency_code)
    return jobs.start(job.id, job, _run(job, context, origin, delivery))


async def _run(
    job: PingJob, context: PingContext, origin: Origin, delivery: dict[str, Any]
) -> None:
    settings = context.settings
    try:
        async with httpx.AsyncClient() as http:
            resources = Resources(http, settings.push_targets, settings.resolved_file_drop_root)
            result = await ping(
                delivery, job.agency_code, context.identity, resources, context.blobs
            )
        pinged = AgencyPinged(
            from_=origin.address,
            ping_id=result.ping_id,
            adapter=result.adapter,
            outcome=result.outcome,
            duration_ms=result.duration_ms,
            error=result.error[:500] if result.error else None,
            http_status=result.http_status,
        )
        await publish_events(context.bus, [origin.event(pinged, job.agency_code)])
        job.result = result  # shown once audited
    except Exception as exc:  # an unusable registration, the bus: the page says so
        logger.exception("test delivery %s to %s failed", job.id, job.agency_code)
        job.failed = f"{type(exc).__name__}: {exc}"
    finally:
        job.finished = True
