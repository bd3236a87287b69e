"""What the browser tests share: a real `axis serve` process with agencies, keys and tokens,
and the screenshots of every page a test visits (`test-artifacts/screenshots/`, git-ignored)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page
from push_endpoint import free_port
from running_axis import OTHER, RECIPIENT, SENDER

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

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SAMPLE_SECONDS = 0.5
"""The served axis samples the overview's figures this often, so charts move in a test."""
SignIn = Callable[..., Page]


@dataclass
class Served:
    """A real `axis serve` process with three agencies and their keys, tokens per role."""

    base_url: str
    process: subprocess.Popen[bytes]
    keys: DevKeySet
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, as_: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far (/proc/<pid>/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _register(settings: Settings, keys: DevKeySet) -> dict[str, str]:
    await migrate(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    tokens: dict[str, str] = {}
    try:
        async with create_session_factory(engine).begin() as session:
            rules = RegistryRules.of(settings, configured_identity(settings))
            codes = (SENDER, RECIPIENT, OTHER)
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
    return tokens


def serve(data_dir: Path, env: dict[str, str]) -> Iterator[Served]:
    """`axis serve` on `data_dir` with `env` (AXIS_*), until the generator is closed."""
    settings = Settings(data_dir=data_dir)
    keys = load_or_create_dev_keys(settings.dev_key_dir, [SENDER, RECIPIENT, OTHER])
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's loop
        tokens = thread.submit(asyncio.run, _register(settings, keys)).result()
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")} | {
        "AXIS_DATA_DIR": str(data_dir),
        "AXIS_PORT": str(port),
        "AXIS_LOG_LEVEL": "warning",
        "AXIS_BUS_PARTITIONS": "2",
        "AXIS_CONSOLE_SAMPLE_SECONDS": str(SAMPLE_SECONDS),
        "AXIS_CHECKPOINT_EVERY_ENTRIES": "5",  # the auditor's pages find entries signed
        "AXIS_CHECKPOINT_INTERVAL_SECONDS": "0.5",
        "AXIS_PUSH_ALLOW_INSECURE_HOSTS": '["127.0.0.1"]',  # refusing endpoints: dead letters
        **env,
    }
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "axis.cli", "serve"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "axis serve not ready within 60 s"
            time.sleep(0.1)  # polling a child process's readiness, with a deadline
        yield Served(base_url, process, keys, tokens)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                f"axis serve did not stop within 20 s:\n{log.read_text()}"
            ) from None


class Visits:
    """Saves a screenshot of every page a test's browser shows."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.count = 0

    def shot(self, page: Page, what: str = "") -> None:
        self.count += 1
        where = urlsplit(page.url)  # never the fragment: a sign-in link's holds a token
        slug = re.sub(r"[^A-Za-z0-9]+", "-", what or where.path + "-" + where.query).strip("-")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{slug}.png"
        page.screenshot(path=path, full_page=True)
