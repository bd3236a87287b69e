"""Run HAProxy on a free loopback port in front of the axis's API processes.

Why: several `axis serve --only-api` processes behind a real load balancer, for tests and
local runs, with the configuration operators get (deploy/compose/haproxy.cfg): the config
here is derived from that file, not written again. Installs Debian's `haproxy` when missing.
Standard library only, so it runs before the project is installed.

CLI:     python deploy/haproxy/launcher.py start|stop|status [--dir DIR] [--backend H:P ...]
Library: proxy = HAProxyNode(run_dir, ["127.0.0.1:8081", ...]); proxy.start() ->
         "127.0.0.1:PORT"; proxy.servers() -> {"api-1": {"status": "UP", ...}}; proxy.stop()
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # deploy/launcher_support.py
from launcher_support import (
    LauncherError,
    apt_install,
    die_with_parent,
    free_ports,
    pid_alive,
    read_json,
    spawn_in_keeper,
    tail,
    write_json,
)

COMPOSE_CONFIG = Path(__file__).resolve().parents[1] / "compose" / "haproxy.cfg"
BACKEND = "axis-api"
STATE_FILE = "state.json"
CONFIG_FILE = "haproxy.cfg"
LOG_FILE = "haproxy.log"
CHECK_INTERVAL_MS = 500
CHECK_TIMEOUT = "2s"
"""What a check may take: Compose's (its `inter`, 2 s). /readyz asks the bus and the
database, which can take longer than a 500 ms interval on a busy machine."""
POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------- installing


def ensure_installed() -> str:
    """The `haproxy` binary, installing Debian's package if it is missing and we are root."""
    found = shutil.which("haproxy")
    if found is not None:
        return found
    apt_install("haproxy", "haproxy")
    found = shutil.which("haproxy")
    if found is None:
        raise LauncherError("installed haproxy but found no haproxy binary")
    return found


# --------------------------------------------------------------------------- the config


def _sections(text: str) -> list[list[str]]:
    """The config's lines grouped by section (a line at column 0 opens one); comments and
    blank lines stay with the section above them, the file's opening comment on its own."""
    sections: list[list[str]] = [[]]
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            sections.append([])
        sections[-1].append(line)
    return sections


def _replace_one(lines: list[str], pattern: str, replacement: list[str]) -> list[str]:
    """`lines` with the one line matching `pattern` replaced; an error unless exactly one
    does (the Compose file changed shape: this derivation must change with it)."""
    matching = [n for n, line in enumerate(lines) if re.match(pattern, line)]
    if len(matching) != 1:
        raise LauncherError(f"{COMPOSE_CONFIG} has {len(matching)} lines matching {pattern!r}")
    n = matching[0]
    return [*lines[:n], *replacement, *lines[n + 1 :]]


def render_config(
    template: str,
    *,
    port: int,
    admin_port: int,
    backends: Sequence[str],
    check_interval_ms: int = CHECK_INTERVAL_MS,
) -> str:
    """The Compose file's config (`template`) for loopback: HAProxy listens on
    127.0.0.1:`port`, its runtime API on 127.0.0.1:`admin_port`, the servers `api-1`, ...
    are `backends` (host:port) checked every `check_interval_ms` and up after one good
    check. Everything else (health check, retries, timeouts, /metrics refused) is kept."""
    out: list[str] = [
        f"# Written by deploy/haproxy/launcher.py from {COMPOSE_CONFIG.parent.name}/"
        f"{COMPOSE_CONFIG.name}: loopback addresses, a runtime API, faster checks."
    ]
    for section in _sections(template):
        head = section[0].split()[0] if section and section[0] else ""
        if head == "resolvers":
            continue  # Docker's DNS: the servers here are addresses
        if head == "global":
            stats = f"    stats socket ipv4@127.0.0.1:{admin_port} level admin"
            section = [section[0], stats, *section[1:]]
        elif head == "frontend":
            section = _replace_one(section, r"\s+bind\s", [f"    bind 127.0.0.1:{port}"])
        elif head == "backend":
            section = [line for line in section if not re.match(r"\s+server\s", line)]
            servers = [
                f"    server api-{number} {address}"
                for number, address in enumerate(backends, start=1)
            ]
            section = _replace_one(
                section,
                r"\s+default-server\s",
                [
                    f"    timeout check {CHECK_TIMEOUT}",
                    f"    default-server check inter {check_interval_ms}ms fall 2 rise 1",
                    *servers,
                ],
            )
        out.extend(section)
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- the node


class HAProxyNode:
    """One HAProxy in the foreground, its config, state and log in run_dir.

    Creating a node on a run_dir that holds a state file knows its ports, backends and pid
    (for `stop` and `status` from another process).
    """

    def __init__(
        self,
        run_dir: Path | str,
        backends: Sequence[str] = (),
        *,
        check_interval_ms: int = CHECK_INTERVAL_MS,
        die_with_parent: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        state = self._read_state()
        self.backends: list[str] = list(backends) or list(state.get("backends", []))
        self.check_interval_ms = check_interval_ms
        self.die_with_parent = die_with_parent
        self.port: int | None = state.get("port")
        self.admin_port: int | None = state.get("admin_port")
        self._pid: int | None = state.get("pid")
        self.process: subprocess.Popen[bytes] | None = None

    # ---- paths and state

    @property
    def config_path(self) -> Path:
        return self.run_dir / CONFIG_FILE

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    @property
    def address(self) -> str:
        """host:port where HAProxy takes requests."""
        if self.port is None:
            raise LauncherError("HAProxy has no port yet: start() it first")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else self._pid

    def _read_state(self) -> dict[str, Any]:
        return read_json(self.run_dir / STATE_FILE)

    def _write_state(self) -> None:
        state = {
            "url": self.url,
            "port": self.port,
            "admin_port": self.admin_port,
            "backends": self.backends,
            "pid": self.pid,
            "config": str(self.config_path),
            "log": str(self.log_path),
        }
        write_json(self.run_dir / STATE_FILE, state)

    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        pid = self._pid
        return pid is not None and pid_alive(pid) and self._is_ours(pid)

    def _is_ours(self, pid: int) -> bool:
        """Guards against signalling a recycled pid."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return str(self.config_path) in cmdline

    # ---- lifecycle

    def start(self, timeout: float = 30.0) -> str:
        """Write the config and run HAProxy until its runtime API answers; returns its
        host:port. The servers are checked from then on: see `servers()`."""
        if self.is_running():
            return self.address
        if not self.backends:
            raise LauncherError("no backends: give HAProxy at least one host:port")
        binary = ensure_installed()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        template = COMPOSE_CONFIG.read_text()
        for attempt in range(1, 4):
            self.port, self.admin_port = free_ports(2)
            self.config_path.write_text(
                render_config(
                    template,
                    port=self.port,
                    admin_port=self.admin_port,
                    backends=self.backends,
                    check_interval_ms=self.check_interval_ms,
                )
            )
            if self._launch(binary, timeout):
                self._write_state()
                return self.address
            if attempt == 3:
                raise LauncherError("HAProxy could not bind its ports", tail(self.log_path))
        raise AssertionError("unreachable")

    def _launch(self, binary: str, timeout: float) -> bool:
        """Start HAProxy; True once it answers, False if a port was taken meanwhile."""
        with self.log_path.open("ab") as log:
            offset = log.tell()

            def spawn() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [binary, "-db", "-f", str(self.config_path)],
                    cwd=self.run_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent if self.die_with_parent else None,
                )

            self.process = spawn_in_keeper(spawn) if self.die_with_parent else spawn()
        self._pid = self.process.pid
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                if "Name: HAProxy" in self.runtime("show info"):
                    return True
            if self.process.poll() is not None:
                code, self.process, self._pid = self.process.returncode, None, None
                with self.log_path.open("rb") as reader:
                    reader.seek(offset)
                    if b"cannot bind socket" in reader.read():
                        return False
                raise LauncherError(f"HAProxy exited with code {code}", tail(self.log_path))
            if time.monotonic() > deadline:
                self.stop()
                raise LauncherError(
                    f"HAProxy did not answer within {timeout:.0f}s", tail(self.log_path)
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (HAProxy's hard stop: open connections close), SIGKILL after `timeout`."""
        pid = self.pid
        if pid is not None and self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
            if self.is_running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait()
        self.process, self._pid = None, None
        if self.port is not None:
            self._write_state()

    # ---- the runtime API

    def runtime(self, command: str, timeout: float = 5.0) -> str:
        """One command of HAProxy's runtime API (e.g. `show stat`, `disable server
        axis-api/api-1`) and its answer; OSError when it does not answer."""
        if self.admin_port is None:
            raise LauncherError("HAProxy has no runtime API port yet: start() it first")
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=timeout) as sock:
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> dict[str, dict[str, str]]:
        """Each server's row of `show stat`, by name (`api-1`, ...): `status` (UP, DOWN,
        `UP 1/2` going down, MAINT), `check_status` (L7OK, L7STS a wrong status, L4CON
        refused, L4TOUT...), `check_code`, `chkdown` (UP to DOWN transitions), `scur`
        (requests at it now), `lastchg` (seconds since its last change)."""
        text = self.runtime("show stat").lstrip("# ")
        return {
            row["svname"]: row
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        }


# --------------------------------------------------------------------------- CLI


def _default_run_dir() -> Path:
    return Path(tempfile.gettempdir()) / "edoc-axis-haproxy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=_default_run_dir(), help="run directory")
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="start: an `axis serve --only-api` to send requests to (repeat it)",
    )
    parser.add_argument(
        "--check-interval-ms", type=int, default=CHECK_INTERVAL_MS, help="start: between checks"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
    args = parser.parse_args(argv)
    node = HAProxyNode(args.dir, args.backend, check_interval_ms=args.check_interval_ms)
    try:
        if args.command == "start":
            print(f"url=http://{node.start(args.timeout)}")
            print(f"pid={node.pid}")
            print(f"admin=127.0.0.1:{node.admin_port}")
            print(f"log={node.log_path}")
        elif args.command == "stop":
            node.stop(args.timeout)
            print("stopped")
        else:
            running = node.is_running()
            print(f"running={str(running).lower()}")
            if node.port is not None:
                print(f"url={node.url}")
            if running:
                for name, row in node.servers().items():
                    print(f"{name}={row['status']} ({row['check_status']})")
            return 0 if running else 3
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
