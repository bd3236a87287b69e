"""`axis`: the real app on each bus engine (and, through `migrated_database_url`, each database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from running_axis import Axis, axis_settings, start_axis


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def axis(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_database_url: str
) -> AsyncIterator[Axis]:
    async for running in start_axis(axis_settings(request, tmp_path, migrated_database_url)):
        yield running
