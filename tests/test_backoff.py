"""A consume loop's pause after failures: doubling from half a second to a short ceiling, back
to the shortest once work went through."""

from __future__ import annotations

import asyncio

import pytest

from axis.backoff import LONGEST_SECONDS, SHORTEST_SECONDS, Backoff


async def test_pauses_double_up_to_a_short_ceiling_and_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    backoff = Backoff()
    for _ in range(6):
        await backoff.pause()
    backoff.reset()
    await backoff.pause()
    assert slept == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 0.5]
    assert (SHORTEST_SECONDS, LONGEST_SECONDS) == (0.5, 4.0)
    # A whole outage of any length is followed by at most this much idleness.
    assert LONGEST_SECONDS <= 5
