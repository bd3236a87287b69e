"""The fault suite's figures (tests/e2e/faults_support.py): a fault's time to recover and its
dip, from the times events happened."""

from __future__ import annotations

from faults_support import BASELINE, WINDOW, recovery


def every(step: float, start: float, end: float) -> list[float]:
    count = round((end - start) / step)
    return [start + n * step for n in range(count)]


def test_a_rate_that_stops_for_a_while_recovers_when_it_resumes() -> None:
    # 10 a second, none for a window and 5 s more from 100 s on, then 10 a second again.
    pause = WINDOW + 5
    times = every(0.1, 100 - BASELINE, 100) + every(0.1, 100 + pause, 200)
    figures = recovery(times, began=100, until=200)
    assert round(figures.baseline) == 10
    assert figures.lowest == 0 and figures.dip == 0
    # The last window below half the baseline ends half a window after the pause.
    assert pause <= figures.recovered_after <= pause + WINDOW / 2


def test_a_rate_that_goes_on_has_no_dip() -> None:
    times = every(0.1, 100 - BASELINE, 200)
    figures = recovery(times, began=100, until=200)
    assert figures.recovered_after == 0
    assert figures.dip > 0.9
