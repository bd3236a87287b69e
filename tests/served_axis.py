"""A real `axis serve` process, for the tests that need one and for the benchmarks (a plain
module: no pytest), and the registration an operator does before it starts.

`served_axis(data_dir, env)` starts `python -m axis.cli serve` with the caller's environment
minus its AXIS_* variables, then the data directory, a free port and `env`; it yields once
/readyz answers 200 and, on exit, terminates the process, killing it if it does not go.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from push_endpoint import free_port

from axis.app import configured_identity
from axis.config import Settings
from axis.credentials import create_token
from axis.registry import (
    AgencyRecord,
    CertificateRecord,
    RegistryRules,
    add_certificate,
    save_agencies,
)
from axis.storage.database import create_engine, create_session_factory, migrate
from axis.storage.models import AgencyLevel, Role
from signing.devkeys import DevKeySet, load_or_create_dev_keys
from signing.keys import certificate_pem

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 60.0
"""How long `axis serve` may take to answer /readyz (imports, migrations, Kafka topics)."""
STOP_SECONDS = 20.0
"""How long it may take to stop after SIGTERM (its shutdown steps are bounded at 10 s)."""


class ServeFailed(RuntimeError):
    """`axis serve` exited early, was not ready in time, or did not stop; with its log tail."""


@dataclass
class ServedAxis:
    """The running process, where it answers, and its log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def environment(data_dir: Path, port: int, env: Mapping[str, str]) -> dict[str, str]:
    """Ours without AXIS_* (a developer's own settings must not leak in), then `env`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
    return inherited | {
        "PYTHONUNBUFFERED": "1",
        "AXIS_DATA_DIR": str(data_dir),
        "AXIS_PORT": str(port),
        "AXIS_LOG_LEVEL": "warning",
        **env,
    }


@contextmanager
def served_axis(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    arguments: Sequence[str] = (),
    log: Path | None = None,
) -> Iterator[ServedAxis]:
    """`axis serve [arguments]` on `data_dir` with `env` (AXIS_* overrides), once ready."""
    port = port or free_port()
    log = log or data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "axis.cli", "serve", *arguments],
            cwd=ROOT,
            env=environment(data_dir, port, env or {}),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = ServedAxis(process, port, log)
    try:
        _wait_ready(served)
        yield served
    finally:
        _stop(served)


def _wait_ready(served: ServedAxis) -> None:
    deadline = time.monotonic() + START_SECONDS
    with httpx.Client(base_url=served.base_url, timeout=2) as client:
        while True:
            if served.process.poll() is not None:
                raise ServeFailed(
                    f"axis serve exited with {served.process.returncode} before it was ready;"
                    f" its log:\n{served.log_tail()}"
                )
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServeFailed(
                    f"axis serve was not ready within {START_SECONDS:.0f} s; its log:\n"
                    f"{served.log_tail()}"
                )
            time.sleep(0.05)  # polling a child process's readiness, with a deadline


def _stop(served: ServedAxis) -> None:
    """SIGTERM; SIGKILL and a failure if it is still there after STOP_SECONDS."""
    if served.process.poll() is not None:
        return
    served.process.terminate()
    try:
        served.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()
        raise ServeFailed(
            f"axis serve did not stop within {STOP_SECONDS:.0f} s; its log:\n{served.log_tail()}"
        ) from None


async def register(settings: Settings, codes: Sequence[str]) -> tuple[DevKeySet, dict[str, str]]:
    """What an operator does before the first start: migrate the database of `settings`,
    register `codes` (with their development certificates, from the key set in the data
    directory), and issue a token per agency, one for the operator and one for the auditor."""
    keys = load_or_create_dev_keys(settings.dev_key_dir, codes)
    await migrate(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    tokens: dict[str, str] = {}
    try:
        async with create_session_factory(engine).begin() as session:
            rules = RegistryRules.of(settings, configured_identity(settings))
            records = [
                AgencyRecord(code=code, name=f"Cơ quan {code}", level=AgencyLevel.PROVINCE)
                for code in codes
            ]
            await save_agencies(session, records, rules)
            for code in codes:
                pem = certificate_pem(keys.agencies[code].certificate).decode()
                await add_certificate(session, code, CertificateRecord(pem=pem), rules)
                _, tokens[code] = await create_token(session, Role.AGENCY, code)
            _, tokens["operator"] = await create_token(session, Role.OPERATOR)
            _, tokens["auditor"] = await create_token(session, Role.AUDITOR)
    finally:
        await engine.dispose()
    return keys, tokens
