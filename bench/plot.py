"""The benches' figures as JSON (`--json PATH`) and as a PNG plot (`--plot PATH`).

Left: documents per second against clients (requests in flight), one line per series,
with the framework floor (requests/s) and the crypto floor (documents/s, one core) as
reference lines; logarithmic axes, since the floors are far above the axis. Right: the
latency distribution (CDF) of each latency sample, e.g. submit-to-delivered at half the
saturated rate.

    python bench/plot.py FIGURES.json OUT.png   # redraw a plot without rerunning
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from floors import Floor


@dataclass
class Series:
    label: str
    points: list[tuple[int, float]] = field(default_factory=list)
    """(clients, documents per second)."""


@dataclass
class Latency:
    label: str
    seconds: list[float]


@dataclass
class Figures:
    """Everything a plot is drawn from; what `--json` writes."""

    title: str
    series: list[Series] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    framework_floor: list[Floor] = field(default_factory=list)
    crypto_floor: Floor | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read_json(cls, path: Path) -> Figures:
        data = json.loads(path.read_text())
        crypto = data["crypto_floor"]
        return cls(
            title=data["title"],
            series=[Series(s["label"], [tuple(p) for p in s["points"]]) for s in data["series"]],
            latency=[Latency(**latency) for latency in data["latency"]],
            framework_floor=[Floor(**floor) for floor in data["framework_floor"]],
            crypto_floor=Floor(**crypto) if crypto else None,
            notes=data.get("notes", {}),
        )


def cdf(values: list[float]) -> tuple[list[float], list[float]]:
    """Sorted values in ms and the share of samples at or below each."""
    ordered = sorted(value * 1000 for value in values)
    return ordered, [(n + 1) / len(ordered) for n in range(len(ordered))]


def plain_log_ticks(axis: Any) -> None:
    """Ticks at 1, 2, 5 of each decade, labelled 0.5, 20, 500 rather than in powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot(figures: Figures, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rates, latency) = plt.subplots(1, 2, figsize=(12, 5))
    figure.suptitle(figures.title, fontsize=10)
    for series in figures.series:
        clients, per_second = zip(*sorted(series.points), strict=True)
        rates.plot(clients, per_second, marker="o", label=series.label)
    if figures.framework_floor:
        floor = sorted(figures.framework_floor, key=lambda f: f.clients)
        rates.plot(
            [f.clients for f in floor], [f.per_second for f in floor], "k--", marker="s",
            label="framework floor (bare FastAPI, requests/s)",
        )  # fmt: skip
    if figures.crypto_floor is not None:
        rates.axhline(
            figures.crypto_floor.per_second, color="grey", linestyle=":",
            label="crypto floor (parse + verify + sign, one core)",
        )  # fmt: skip
    rates.set_xscale("log", base=2)
    rates.set_yscale("log")
    clients_seen = sorted({c for series in figures.series for c, _ in series.points})
    rates.set_xticks(clients_seen, [str(c) for c in clients_seen])
    plain_log_ticks(rates.yaxis)
    rates.set_xlabel("clients (requests in flight)")
    rates.set_ylabel("documents per second")
    rates.grid(True, which="both", alpha=0.3)
    rates.legend(fontsize=8)
    for sample in figures.latency:
        if sample.seconds:
            milliseconds, share = cdf(sample.seconds)
            latency.plot(milliseconds, share, label=sample.label)
    latency.set_xscale("log")
    plain_log_ticks(latency.xaxis)
    latency.set_xlabel("latency, ms")
    latency.set_ylabel("share of documents at or below")
    latency.grid(True, which="both", alpha=0.3)
    if figures.latency:
        latency.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    plot(Figures.read_json(Path(sys.argv[1])), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
