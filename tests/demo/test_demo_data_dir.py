"""The demo's data dir: kept between runs, emptied by `--reset`, and never one that is not
a demo's (so `--reset` cannot delete someone's files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from axis.demo.runner import DemoError, prepare_data_dir


def test_a_new_directory_becomes_the_demos_and_is_kept_between_runs(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path / "axis-demo", reset=False)
    (data_dir / "axis.sqlite3").write_bytes(b"earlier run")
    assert prepare_data_dir(tmp_path / "axis-demo", reset=False) == data_dir
    assert (data_dir / "axis.sqlite3").read_bytes() == b"earlier run"


def test_reset_empties_the_demos_directory(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path / "axis-demo", reset=False)
    (data_dir / "axis.sqlite3").write_bytes(b"earlier run")
    prepare_data_dir(data_dir, reset=True)
    assert [path.name for path in data_dir.iterdir()] == [".axis-demo"]


@pytest.mark.parametrize("reset", [False, True])
def test_a_directory_that_is_not_a_demos_is_left_alone(tmp_path: Path, reset: bool) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(DemoError, match="not a demo's data dir"):
        prepare_data_dir(tmp_path, reset=reset)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
