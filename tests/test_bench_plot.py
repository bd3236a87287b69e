"""bench/plot.py: the figures a bench writes with --json draw the same plot again."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from floors import Floor, ratios
from plot import Figures, Latency, Series, cdf, plot

FIGURES = Figures(
    title="a run",
    series=[Series("delivered, 1 recipient(s)", [(1, 20.0), (4, 60.0), (16, 75.5)])],
    latency=[Latency("half load", [0.030, 0.010, 0.020])],
    framework_floor=[Floor("framework", 1, 900.0, 0.4), Floor("framework", 16, 2400.0, 0.3)],
    crypto_floor=Floor("crypto", 1, 400.0, 2.5),
    notes={"duration": 5.0},
)


def test_the_json_reads_back_as_the_same_figures(tmp_path: Path) -> None:
    FIGURES.write_json(tmp_path / "figures.json")

    assert Figures.read_json(tmp_path / "figures.json") == FIGURES


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    plot(FIGURES, tmp_path / "plot.png")

    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_latency_distribution_is_cumulative_in_milliseconds() -> None:
    assert cdf([0.030, 0.010, 0.020]) == ([10.0, 20.0, 30.0], [1 / 3, 2 / 3, 1.0])


def test_ratios_divide_by_each_floor() -> None:
    framework, crypto = FIGURES.framework_floor[1], FIGURES.crypto_floor
    assert crypto is not None

    assert ratios(240.0, 3.0, framework, crypto) == (
        "240.0 docs/s = 0.1x the framework floor, 0.6x the crypto floor; "
        "3.0 ms CPU/doc = 10x the framework floor, 1.2x the crypto floor"
    )
