"""Replaying many dead letters from the console, off the request: a job per confirmation,
whose progress the job's page shows.

A job replays the dead letters it was given in batches, each one the delivery lifecycle's
replay (one transaction, one audit event per delivery, as the operator who confirmed it),
so its page can say how far it got. A delivery replayed meanwhile by someone else is
skipped, not replayed twice. Jobs live in the process that started them (the last
`KEPT` are kept): a restart forgets a job's page, never a replay, since each batch is
committed or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from axis.delivery.lifecycle import Lifecycle, NotDead
from axis.storage.models import Delivery, DeliveryState

logger = logging.getLogger(__name__)

BATCH = 50
KEPT = 100


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


class ReplayJobs:
    """The replay jobs of this process."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, ReplayJob] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> ReplayJob | None:
        return self._jobs.get(job_id)

    def start(self, lifecycle: Lifecycle, actor: str, delivery_ids: Sequence[str]) -> ReplayJob:
        """Replay `delivery_ids` in the background; returns at once."""
        job = ReplayJob(str(uuid.uuid4()), actor, len(delivery_ids))
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT:
            self._jobs.popitem(last=False)
        task = asyncio.create_task(_run(job, lifecycle, list(delivery_ids)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job


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
