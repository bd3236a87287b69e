"""What the local launchers (deploy/kafka, deploy/postgres, deploy/haproxy) share: the error
they raise, free loopback ports, a log's tail, whether a pid still runs, and starting a
child that dies with the process that launched it.

Standard library only, like the launchers: they run before the project is installed, as
scripts (`python deploy/kafka/launcher.py`) or loaded by path (tests/conftest.py, bench/),
and put this folder on `sys.path` to import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")
PR_SET_PDEATHSIG = 1


class LauncherError(RuntimeError):
    """A service could not be fetched, started or stopped; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n--- log tail ---\n{self.log_tail}" if self.log_tail else text


def apt_install(package: str, what: str) -> None:
    """Install Debian's `package` as root with apt-get; LauncherError saying how, when this
    process cannot (`what` names what is missing, for the message)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LauncherError(
            f"{what} is not installed and cannot be installed from here: "
            f"run `apt-get install -y {package}` as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        done = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise LauncherError(f"`{' '.join(cmd)}` failed", tail_text(done.stdout + done.stderr))


def read_json(path: Path) -> dict[str, Any]:
    """A launcher's state file, or {} when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, state: dict[str, Any]) -> None:
    """Write a state file whole or not at all (a crash mid-write leaves the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that were free a moment ago (held together while picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def tail_text(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail(path: Path, lines: int = 60) -> str:
    """Last lines of a log file ('' when missing), for error messages."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            return tail_text(handle.read().decode("utf-8", "replace"), lines)
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a reparented zombie may never be reaped in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the thread that launched it ends."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_keeper_lock = threading.Lock()
_keeper_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_keeper: threading.Thread | None = None


def _keeper_loop() -> None:
    while True:
        job, future = _keeper_jobs.get()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(job())
            except BaseException as exc:
                future.set_exception(exc)


def spawn_in_keeper(job: Callable[[], _T]) -> _T:
    """Run `job` (a Popen) on one thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so spawning from a
    short-lived thread (asyncio.to_thread, an executor) would kill the child with it.
    """
    global _keeper
    with _keeper_lock:
        if _keeper is None or not _keeper.is_alive():
            _keeper = threading.Thread(target=_keeper_loop, name="launcher-keeper", daemon=True)
            _keeper.start()
    future: Future[_T] = Future()
    _keeper_jobs.put((job, future))
    return future.result()
