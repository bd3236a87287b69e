"""What the browser tests share: a real `axis serve` process with agencies, keys and tokens,
and the screenshots of every page a test visits (`test-artifacts/screenshots/`, git-ignored)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page
from running_axis import OTHER, RECIPIENT, SENDER
from served_axis import ROOT, register, served_axis

from axis.config import Settings
from signing.devkeys import DevKeySet

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


def serve(data_dir: Path, env: dict[str, str]) -> Iterator[Served]:
    """`axis serve` on `data_dir` with `env` (AXIS_*), until the generator is closed."""
    settings = Settings(data_dir=data_dir)
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's loop
        keys, tokens = thread.submit(
            asyncio.run, register(settings, [SENDER, RECIPIENT, OTHER])
        ).result()
    environment = {
        "AXIS_BUS_PARTITIONS": "2",
        "AXIS_CONSOLE_SAMPLE_SECONDS": str(SAMPLE_SECONDS),
        "AXIS_CHECKPOINT_EVERY_ENTRIES": "5",  # the auditor's pages find entries signed
        "AXIS_CHECKPOINT_INTERVAL_SECONDS": "0.5",
        "AXIS_PUSH_ALLOW_INSECURE_HOSTS": '["127.0.0.1"]',  # refusing endpoints: dead letters
        **env,
    }
    with served_axis(data_dir, environment) as running:
        yield Served(running.base_url, running.process, keys, tokens)


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
