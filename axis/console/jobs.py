"""The console's background jobs (a bulk replay, a test delivery): work an operator starts
with a form, which runs off the request while the job's page shows how it goes.

Jobs live in the process that started them (the last `KEPT` are kept): a restart forgets a
job's page, never its effect, which each job commits step by step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, TypeVar

KEPT = 200

J = TypeVar("J")


def new_id() -> str:
    return str(uuid.uuid4())


class Jobs:
    """The jobs of this process, by id."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, object] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str, kind: type[J]) -> J | None:
        """The job `job_id` if it is a `kind`."""
        job = self._jobs.get(job_id)
        return job if isinstance(job, kind) else None

    def start(self, job_id: str, job: J, work: Coroutine[Any, Any, None]) -> J:
        """Run `work` (which updates `job` as it goes) in the background; returns at once."""
        self._jobs[job_id] = job
        while len(self._jobs) > KEPT:
            self._jobs.popitem(last=False)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job
