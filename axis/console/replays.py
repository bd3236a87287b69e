"""Replaying many dead letters from the console, off the request: a job (`jobs.py`) per
confirmation, whose progress the job's page shows.

A job replays the dead letters it was given in batches, each one the delivery lifecycle's
replay (one transaction, one audit event per delivery, as the operator who confirmed it),
so its page can say how far it got, and a restart loses no replay (each batch is committed
or not at all). A delivery replayed meanwhile by someone else is skipped, not replayed
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from axis.console.jobs import Jobs, new_id
from axis.delivery.lifecycle import Lifecycle, NotDead
from axis.storage.models import Delivery, DeliveryState

logger = logging.getLogger(__name__)

BATCH = 50


@dataclass
class ReplayJob:
    id: str
    actor: str
    total: int
    replayed: int = 0
    skipped: int = 0
    """Named but no longer dead when their batch came (replayed by someone else)."""
    failed: str | None = None
    finished: bool = False

    @property
    def done(self) -> int:
        return self.replayed + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)


def start_replay(
    jobs: Jobs, lifecycle: Lifecycle, actor: str, delivery_ids: Sequence[str]
) -> ReplayJob:
    """Replay `delivery_ids` in the background; returns at once."""
    job = ReplayJob(new_id(), actor, len(delivery_ids))
    return jobs.start(job.id, job, _run(job, lifecycle, list(delivery_ids)))


async def _run(job: ReplayJob, lifecycle: Lifecycle, delivery_ids: list[str]) -> None:
    try:
        for start in range(0, len(delivery_ids), BATCH):
            batch = delivery_ids[start : start + BATCH]
            still_dead = await _still_dead(lifecycle, batch)
            try:
                replayed = await lifecycle.replay(actor=job.actor, delivery_ids=still_dead)
            except NotDead:  # replayed by someone else between the check and the replay
                replayed = []
            job.replayed += len(replayed)
            job.skipped += len(batch) - len(replayed)
    except Exception as exc:  # the bus or the database: the page says so, nothing is lost
        logger.exception("replay job %s stopped", job.id)
        job.failed = f"{type(exc).__name__}: {exc}"
    finally:
        job.finished = True


async def _still_dead(lifecycle: Lifecycle, delivery_ids: list[str]) -> list[str]:
    query = select(Delivery.id).where(
        Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.DEAD
    )
    async with lifecycle.sessions() as session:
        return list(await session.scalars(query))
