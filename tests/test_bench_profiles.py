"""bench/profiles.py: the top entries of a raw py-spy profile."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from profiles import format_top, top_entries  # noqa: E402

PROFILE = """\
main (app.py:1);handle (app.py:5);parse (xml.py:9) 6
main (app.py:1);handle (app.py:6);fsync (/usr/lib/python3.11/os.py:3) 3
main (app.py:1);recurse (app.py:8);recurse (app.py:8) 1
Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81) 90

"""


def test_self_and_inclusive_shares_of_busy_samples() -> None:
    top = top_entries(PROFILE.splitlines(), count=3)

    assert top.samples == 10
    assert top.waiting == 90  # the idle pool worker is not a busy sample
    assert top.own == [
        (0.6, "parse (xml.py:9)"),
        (0.3, "fsync (os.py:3)"),
        (0.1, "recurse (app.py:8)"),
    ]
    assert top.inclusive[0] == (1.0, "main (app.py:1)")
    every = [frame for _, frame in top_entries(PROFILE.splitlines(), count=10).inclusive]
    assert "recurse (app.py:8)" in every
    assert "handle (app.py:5)" not in every  # a pass-through frame: it only calls parse


def test_the_root_is_cut_from_paths_and_lines_are_printable() -> None:
    top = top_entries([f"run ({ROOT}/axis/cli.py:4) 2"], root=ROOT)

    assert top.own == [(1.0, "run (axis/cli.py:4)")]
    assert format_top("api", top) == [
        "profile of api: 2 busy samples (0 waiting left out)",
        "  -- self --",
        "  100.0%  run (axis/cli.py:4)",
        "  -- inclusive --",
        "  100.0%  run (axis/cli.py:4)",
    ]


def test_an_empty_profile_has_no_entries() -> None:
    assert top_entries(["", "garbage"]).own == []
