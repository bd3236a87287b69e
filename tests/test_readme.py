"""The README documents every setting, with its default."""

from __future__ import annotations

from pathlib import Path

from axis.config import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    undocumented = [
        name for name in Settings.model_fields if f"| `AXIS_{name.upper()}` |" not in README
    ]
    assert undocumented == []


def test_readme_shows_the_ci_test_command() -> None:
    ci_command = (Path(__file__).parents[1] / ".ci" / "run").read_text().splitlines()[-1]
    assert ci_command.strip() in README
