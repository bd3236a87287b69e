"""py-spy profiles of the axis's processes during a bench's saturation window.

`Profiler.start` runs `py-spy record --format raw` on each process (a raw profile is one
line per distinct stack, "frame;frame;...;frame count", leaf last; py-spy leaves idle
threads out, and the waits it still counts as active, `WAITS`, are left out here: the
shares are of busy samples); `Profiler.finish`, at the end of the window,
interrupts them (py-spy then writes its file) and returns the top entries of each: self
(samples whose leaf is the function) and inclusive (samples with the function anywhere on
the stack; pass-through frames, which only ever call one same frame, are left out of that
list: the entry points above the event loop would fill it).

    python bench/profiles.py FILE [N]   # the top N entries of a raw profile
"""

from __future__ import annotations

import itertools
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = 15
_PREFIX = re.compile(r" \(/.*?/(site-packages|lib/python3\.\d+)/")
"""Where a frame's file lives, up to the package: shortened so entries stay readable."""
WAITS = (
    "_worker (concurrent/futures/thread.py:",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "Condition.wait (threading.py:",
    "Event.wait (threading.py:",
    "Queue.get (queue.py:",
)
"""Leaf frames of threads waiting for work (a thread pool's worker on its queue, aiosqlite's
thread on its own) that py-spy reports as active: not busy samples."""


def is_wait(leaf: str) -> bool:
    return leaf.startswith(WAITS)


@dataclass(frozen=True)
class Top:
    """The heaviest functions of a profile: (share of samples, frame), heaviest first."""

    samples: int
    """Busy samples, the shares' denominator."""
    waiting: int
    """Samples left out as waits."""
    own: list[tuple[float, str]]
    inclusive: list[tuple[float, str]]


def short_frame(frame: str, root: Path | None = None) -> str:
    """`function (path:line)` with the path from its package (or from `root`) on."""
    if root is not None:
        frame = frame.replace(f"({root}/", "(")
    return _PREFIX.sub(" (", frame)


def top_entries(lines: Iterable[str], count: int = TOP, root: Path | None = None) -> Top:
    """The `count` heaviest functions of a raw (collapsed) py-spy profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    callees: defaultdict[str, set[str]] = defaultdict(set)
    total = waiting = 0
    for line in lines:
        stack, _, samples = line.strip().rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        number = int(samples)
        frames = [short_frame(frame, root) for frame in stack.split(";")]
        if is_wait(frames[-1]):
            waiting += number
            continue
        total += number
        own[frames[-1]] += number
        for frame in set(frames):  # a recursive function counts once per sample
            inclusive[frame] += number
        for caller, callee in itertools.pairwise(frames):
            callees[caller].add(callee)
    for frame, called in callees.items():
        if len(called) == 1 and frame not in own:
            del inclusive[frame]

    def shares(counter: Counter[str]) -> list[tuple[float, str]]:
        return [(n / total, frame) for frame, n in counter.most_common(count)]

    if not total:
        return Top(0, waiting, [], [])
    return Top(total, waiting, shares(own), shares(inclusive))


def format_top(name: str, top: Top) -> list[str]:
    lines = [f"profile of {name}: {top.samples} busy samples ({top.waiting} waiting left out)"]
    for title, entries in (("self", top.own), ("inclusive", top.inclusive)):
        lines.append(f"  -- {title} --")
        lines += [f"  {share * 100:5.1f}%  {frame}" for share, frame in entries]
    return lines


def py_spy() -> str:
    """The py-spy next to this Python (the dev extras install it), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: ./scripts/install --dev installs it")
    return found


class Profiler:
    """One `py-spy record` per process, from `start` to `finish`, into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        directory.mkdir(parents=True, exist_ok=True)

    def start(self, pids: dict[str, int], prefix: str = "") -> None:
        for name, pid in pids.items():
            path = self.directory / f"{prefix}{name}.txt"
            command = [
                py_spy(), "record", "--format", "raw", "--output", str(path),
                "--pid", str(pid), "--subprocesses",  # axis serve's API runs in children
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            self.running.append((f"{prefix}{name}", process, path))

    def finish(self, timeout: float = 60.0) -> list[str]:
        """End every recording; the top entries of each as printable lines."""
        lines: list[str] = []
        for _, process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, process, path in self.running:
            try:
                _, error = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                _, error = process.communicate()
            if process.returncode != 0 or not path.exists():
                lines.append(f"profile of {name}: py-spy failed: {error.decode()[-300:]}")
                continue
            with path.open() as profile:
                lines += format_top(f"{name} ({path})", top_entries(profile, root=ROOT))
        self.running.clear()
        return lines

    def stop(self) -> None:
        for _, process, _ in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.running.clear()


def main() -> None:
    count = int(sys.argv[2]) if len(sys.argv) > 2 else TOP
    with Path(sys.argv[1]).open() as profile:
        print("\n".join(format_top(sys.argv[1], top_entries(profile, count, ROOT))))


if __name__ == "__main__":
    main()
