"""`axis demo` as a newcomer runs it: a real command on a free port that, within seconds,
has documents delivered to a pull agency (acknowledged) and to a push endpoint, and a dead
letter from the endpoint that always fails; SIGINT then stops it, and every process it
started, within a bound, with exit status 0."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest
from process_table import alive, descendants

from axis.demo.registration import FAILING_ATTEMPTS, read_directory
from schemas.demo_plan import SampleDelivery

STARTUP_SECONDS = 30.0
TRAFFIC_SECONDS = 45.0
STOP_SECONDS = 30.0
DIRECTORY = read_directory()
FAILING = next(a.code for a in DIRECTORY.agencies if a.delivery is SampleDelivery.FAILING_PUSH)
PULL = {a.code for a in DIRECTORY.agencies if a.delivery is SampleDelivery.PULL}
PUSH = {a.code for a in DIRECTORY.agencies if a.delivery is SampleDelivery.PUSH}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    """The stream's lines as they come, read by a thread (a pipe read has no deadline)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], pattern: str, deadline: float) -> re.Match[str]:
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} in time")


def wait_until(what: str, check: Callable[[], bool], deadline: float) -> None:
    """Poll `check` until it holds; fail at the deadline."""
    while not check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.5)


class Demo:
    """`axis demo` running as a command: its printed links, then SIGINT."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.started = time.monotonic()
        environment = {name: value for name, value in os.environ.items() if "AXIS_" not in name}
        command = [str(Path(sys.executable).with_name("axis")), "demo", "--port", str(port)]
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(data_dir), "--rate", "2"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=environment,
            )
        assert self.process.stdout is not None
        self.lines = lines_of(self.process.stdout)
        self.axis = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def tokens(self) -> tuple[str, str]:
        """The operator's and the auditor's tokens, from the sign-in links it prints."""
        link = rf"http://127\.0\.0\.1:{self.port}/ui/sign-in#token=(\S+)"
        deadline = self.started + STARTUP_SECONDS
        operator = wait_for_line(self.lines, "operator console: +" + link, deadline)[1]
        auditor = wait_for_line(self.lines, "auditor pages: +" + link, deadline)[1]
        docs = rf"API documentation: +http://127\.0\.0\.1:{self.port}/docs"
        wait_for_line(self.lines, docs, deadline)
        return operator, auditor

    def get(self, path: str, token: str, **params: str | int) -> httpx.Response:
        return self.axis.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def interrupt(self) -> None:
        """SIGINT: exit status 0 in time, and every process it started gone."""
        started_by_demo = descendants(self.process.pid)
        assert any(
            b"adapters.sample_agencies" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in started_by_demo
        ), "the sample agencies run in a process of their own"
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=STOP_SECONDS) == 0
        wait_until(
            "every process the demo started has ended",
            lambda: not any(alive(pid) for pid in started_by_demo),
            time.monotonic() + 5,
        )
        with pytest.raises(httpx.ConnectError):
            self.axis.get("/healthz")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.axis.close()
        print(f"the demo's log:\n{self.log.read_text()}")


@pytest.mark.timeout(150)
def test_the_demo_delivers_every_way_makes_a_dead_letter_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "axis-demo"
    demo = Demo(data_dir, free_port(), tmp_path / "first.log")
    try:
        operator, auditor = demo.tokens()

        def dead_letter() -> bool:
            answer = demo.get("/v1/admin/dead-letters", operator, recipient=FAILING)
            answer.raise_for_status()
            return any(dead["attempts"] == FAILING_ATTEMPTS for dead in answer.json())

        def pulled_and_acknowledged() -> bool:
            answer = demo.get("/v1/audit/entries", auditor, type="delivery.acked", limit=100)
            answer.raise_for_status()
            return any(
                entry["agency_code"] in PULL and entry["event"]["data"]["result"] == "done"
                for entry in answer.json()["entries"]
            )

        def pushed() -> bool:
            return any(next((data_dir / "agencies" / code).rglob("*.edxml"), None) for code in PUSH)

        deadline = demo.started + TRAFFIC_SECONDS
        wait_until("a push endpoint received a document", pushed, deadline)
        wait_until("a pull agency acknowledged a delivery", pulled_and_acknowledged, deadline)
        wait_until(f"a dead letter to {FAILING}", dead_letter, deadline)
        print(
            f"traffic every way {time.monotonic() - demo.started:.1f} s after the command started"
        )
        demo.interrupt()
    finally:
        demo.close()

    again = Demo(data_dir, free_port(), tmp_path / "second.log")
    try:
        new_operator, _ = again.tokens()
        assert again.get("/v1/admin/dead-letters", operator).status_code == 401
        kept = again.get("/v1/admin/dead-letters", new_operator, recipient=FAILING)
        assert kept.status_code == 200 and kept.json(), "the second run reuses the data dir"
        again.interrupt()
    finally:
        again.close()
