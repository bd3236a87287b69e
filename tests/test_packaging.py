"""The wheel ships the schema folder, so an installed axis can validate envelopes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import schemas

ROOT = Path(__file__).parents[1]


def test_schema_folder_is_found_in_the_source_tree() -> None:
    assert (schemas.XSD_DIR / "README.md").is_file()


def test_wheel_contains_the_schema_folder(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = tmp_path.glob("edoc_axis-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "schemas/xsd/README.md" in names
    assert "axis/bus/embedded.py" in names
    assert "axis/storage/migrations/env.py" in names
    assert "axis/demo/agencies.json" in names  # `axis demo` reads its directory from it
    assert any(name.endswith("entry_points.txt") for name in names)
