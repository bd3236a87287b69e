"""`axis serve --workers N`: one node's cores used by several processes, one supervisor.

One event loop uses one core. Here the parent migrates the database, creates the bus topics
and binds the listening socket once, then starts N API processes that all accept on that
socket (as uvicorn's multiprocess mode does) and one process for the background work (the
router, delivery and retry workers and the audit writer). It restarts a child that dies
and, on SIGINT or SIGTERM, asks every child to stop (an API process first finishes its
in-flight requests, as `axis.server.run_server` does) and returns once all have exited.

A child dies with the parent (a `kill -9` of the parent takes the node down, port and all,
rather than leaving orphans serving). Children are forked from a fork server, a fresh
interpreter that imports the axis once (a child, or its replacement, starts in a moment) and
with `PROMETHEUS_MULTIPROC_DIR` already set, which prometheus_client reads when imported:
every process's counters add up on any process's `/metrics`.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvloop
from prometheus_client import multiprocess

from axis.app import create_app, prepare, run_background_process
from axis.config import Settings
from axis.logs import configure_logging
from axis.server import bind, run_server

logger = logging.getLogger(__name__)

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent dies (Linux)."""
RESTART_PAUSE_SECONDS = 1.0
"""A child that dies sooner than this after its start is restarted this long after it: a
child that cannot start at all is not restarted in a tight loop."""


def api_process_count(workers: int | str, *, background: bool) -> int:
    """API processes for the `AXIS_SERVE_WORKERS` value. `auto`: one process per usable core
    in all, the background process's included, and at least one API process."""
    if workers == "auto":
        cores = len(os.sched_getaffinity(0))
        return max(1, cores - 1 if background else cores)
    return int(workers)


def serve_processes(
    settings: Settings, host: str, port: int, api_processes: int, *, background: bool
) -> None:
    """Run `api_processes` API processes on one socket and, with `background`, one process of
    background work, until SIGINT or SIGTERM; returns once every child has exited."""
    metrics_dir = tempfile.mkdtemp(prefix="axis-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = metrics_dir  # inherited by every child
    multiprocessing.set_forkserver_preload([__name__])
    forkserver.ensure_running()  # imports the axis once, while this process prepares
    listening = None
    try:
        asyncio.run(prepare(settings))
        listening = bind(settings, host, port)
        children = [
            _Child(f"api-{number}", _api_process, (os.getpid(), settings, host, port, listening))
            for number in range(1, api_processes + 1)
        ]
        if background:
            children.append(_Child("background", _background_process, (os.getpid(), settings)))
        _supervise(children)
    finally:
        if listening is not None:
            listening.close()
        del os.environ[METRICS_DIR_VARIABLE]
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _api_process(
    parent: int, settings: Settings, host: str, port: int, listening: socket.socket
) -> None:
    _die_with(parent)
    configure_logging(settings.log_level)
    app = create_app(settings, workers=False, migrated=True)
    run_server(app, settings, host, port, listening)


def _background_process(parent: int, settings: Settings) -> None:
    _die_with(parent)
    configure_logging(settings.log_level)
    uvloop.run(run_background_process(settings))


def _die_with(supervisor: int) -> None:
    """SIGKILL this process when its parent, the fork server, dies (which it does when the
    `supervisor` does); at once if the supervisor is gone already."""
    # The fork server exits when the last copy of the supervisor's end of its "alive" pipe
    # closes; each child is handed one (to start processes of its own, which ours do not).
    os.close(forkserver._forkserver._forkserver_alive_fd)  # type: ignore[attr-defined]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    try:
        os.kill(supervisor, 0)
    except ProcessLookupError:
        os._exit(1)


@dataclass
class _Child:
    name: str
    target: Callable[..., None]
    args: tuple[object, ...]
    process: BaseProcess | None = None
    started_at: float = 0.0
    restart_at: float | None = field(default=None)

    def start(self) -> None:
        self.process = multiprocessing.get_context("forkserver").Process(
            target=self.target, args=self.args, name=f"axis-{self.name}"
        )
        self.process.start()
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.exitcode is None


def _supervise(children: list[_Child]) -> None:
    """Start `children`, restart any that dies, and stop them all on SIGINT or SIGTERM."""
    with _signals() as (received, wakeup):
        for child in children:
            child.start()
        forwarded = 0
        while any(child.running or child.restart_at is not None for child in children):
            _wait(children, wakeup)
            for signum in received[forwarded:]:
                # The first asks each child to drain; a second one (SIGINT) makes uvicorn quit.
                _signal_all(children, signal.SIGTERM if forwarded == 0 else signal.SIGINT)
                logger.warning("%s: stopping every process", signal.Signals(signum).name)
                forwarded += 1
            for child in children:
                _look_after(child, stopping=forwarded > 0)


def _wait(children: list[_Child], wakeup: socket.socket) -> None:
    """Until a child exits, a signal arrives or a pending restart is due."""
    sentinels = [child.process.sentinel for child in children if child.running and child.process]
    due = [child.restart_at for child in children if child.restart_at is not None]
    timeout = max(0.0, min(due) - time.monotonic()) if due else None
    wait([*sentinels, wakeup], timeout)
    try:
        while wakeup.recv(64):
            pass
    except BlockingIOError:
        pass


def _look_after(child: _Child, *, stopping: bool) -> None:
    process = child.process
    if stopping:
        child.restart_at = None
    elif child.restart_at is not None and time.monotonic() >= child.restart_at:
        child.start()
    elif process is not None and process.exitcode is not None and child.restart_at is None:
        multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
        logger.error(
            "the %s process (pid %s) exited with code %s; starting another",
            child.name,
            process.pid,
            process.exitcode,
        )
        child.restart_at = max(time.monotonic(), child.started_at + RESTART_PAUSE_SECONDS)
        if child.restart_at <= time.monotonic():
            child.start()


def _signal_all(children: list[_Child], signum: int) -> None:
    for child in children:
        if child.running and child.process is not None and child.process.pid is not None:
            try:
                os.kill(child.process.pid, signum)
            except ProcessLookupError:
                pass  # it has just exited: the loop sees it


@contextmanager
def _signals() -> Iterator[tuple[list[int], socket.socket]]:
    """SIGINT and SIGTERM recorded (in order) instead of raised, and a socket that becomes
    readable when one arrives, so the supervisor's wait wakes up."""
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    wakeup, notify = socket.socketpair()
    wakeup.setblocking(False)
    notify.setblocking(False)
    previous = {signum: signal.signal(signum, record) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous_fd = signal.set_wakeup_fd(notify.fileno())
    try:
        yield received, wakeup
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wakeup.close()
        notify.close()
