"""`context`: what a worker process opens (database, bus with its topics, blob store), on
each bus engine and, through `migrated_database_url`, each database; no worker runs, so a test
drives delivery state itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from running_axis import axis_settings

from axis.app import connected
from axis.workers.context import WorkerContext


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def context(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_database_url: str
) -> AsyncIterator[WorkerContext]:
    async with connected(axis_settings(request, tmp_path, migrated_database_url)) as (context, _):
        yield context
