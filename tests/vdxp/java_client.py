"""The Java VDXP client of tests/vdxp/client: built once per run, run once per operation.

Maven fetches its two libraries (offline first, from ~/.m2); javac compiles the one file.
Without Maven or a JDK the tests that need it are skipped, except under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENT = Path(__file__).parent / "client"
SOURCE = CLIENT / "src" / "main" / "java" / "vdxpclient" / "VdxpClient.java"
LIBS = CLIENT / "target" / "libs"
CLASSES = CLIENT / "target" / "classes"
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""A short-lived client's JVM: the quick compiler only, the simplest collector. A run takes
about 1.0 s of CPU instead of 1.4, and the tests run it dozens of times."""


def build_client() -> str:
    """Build the client; its Java class path."""
    missing = [tool for tool in ("mvn", "javac", "java") if shutil.which(tool) is None]
    if missing:
        reason = f"the Java VDXP client needs {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    fetch = ["mvn", "-B", "-q", "-f", str(CLIENT / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={LIBS}"]  # fmt: skip
    if subprocess.run([*fetch, "-o"], capture_output=True).returncode != 0:
        _check(subprocess.run(fetch, capture_output=True, text=True), "mvn")
    compile_ = ["javac", "-d", str(CLASSES), "-cp", f"{LIBS}/*", str(SOURCE)]
    _check(subprocess.run(compile_, capture_output=True, text=True), "javac")
    return f"{CLASSES}{os.pathsep}{LIBS}/*"


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"


@dataclass(frozen=True)
class VdxpAgency:
    """One agency's VDXP SDK configuration, driving the Java client."""

    classpath: str
    endpoint: str
    system_id: str
    secret: str

    async def call(
        self, operation: str, params: dict[str, Any] | None = None, *options: str
    ) -> list[dict[str, Any]]:
        """Each request's `{"http": status, "reply": ...}` (two with --twice)."""
        command = [
            *("java", *JVM_OPTIONS, "-cp", self.classpath, "vdxpclient.VdxpClient"),
            self.endpoint,
            *(self.system_id, self.secret, operation, json.dumps(params or {}), *options),
        ]
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
        _check(done, f"VdxpClient {operation}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    async def reply(
        self, operation: str, params: dict[str, Any] | None = None, *options: str
    ) -> dict[str, Any]:
        """The one reply of a call that must succeed (HTTP 200, ErrorCode "0")."""
        [answer] = await self.call(operation, params, *options)
        assert answer["http"] == 200, answer
        assert answer["reply"]["ErrorCode"] == "0", answer
        reply: dict[str, Any] = answer["reply"]
        return reply
