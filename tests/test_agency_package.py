"""An agency installs the agency side (`agency/pyproject.toml`) without the server: into a
fresh virtualenv, resolving its own dependencies, and the client imports there while the
server's dependencies and the `axis` package are nowhere to be found."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
SERVER_ONLY = ("axis", "fastapi", "aiokafka", "asyncpg", "alembic", "sqlalchemy", "uvicorn")

CHECK = f"""
import importlib.util, sys
import adapters.client, adapters.drop_folder, adapters.receiver, schemas.edxml, signing.merkle
assert adapters.client.__file__.startswith(sys.prefix), adapters.client.__file__
assert schemas.XSD_DIR.joinpath("edxml-document.xsd").is_file()
found = [name for name in {SERVER_ONLY!r} if importlib.util.find_spec(name) is not None]
assert not found, f"server dependencies installed: {{found}}"
"""


def test_the_agency_side_installs_into_a_fresh_virtualenv_without_the_server(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", ROOT / "agency"],
        check=True,
        env=env,
        timeout=240,
    )
    subprocess.run([str(python), "-c", CHECK], check=True, cwd=tmp_path, env=env, timeout=60)


def test_the_agency_side_never_imports_the_axis() -> None:
    """Not even under TYPE_CHECKING or inside a function: `grep` would show it."""
    offenders = []
    for package in ("adapters", "schemas", "signing"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                    for name in names
                    if name.split(".")[0] == "axis"
                ]
    assert offenders == []
