"""Bounded waits for the steps that must end (closing a bus, disposing an engine): a step
still running after its bound is a hang, reported with the stack of every task and thread
and raised as TimeoutError, instead of a process (or a test) that waits forever."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

logger = logging.getLogger(__name__)

SHUTDOWN_STEP_SECONDS = 10.0
"""How long one shutdown step may take; each takes well under a second when nothing hangs."""


@asynccontextmanager
async def within(what: str, seconds: float = SHUTDOWN_STEP_SECONDS) -> AsyncIterator[None]:
    """Run the block for at most `seconds`; past that, log every stack and raise."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        logger.error("%s", stacks(f"{what} took over {seconds} s"))
        raise


def stacks(why: str) -> str:
    """Where every task of the running loop and every thread stands."""
    report = io.StringIO()
    report.write(f"{why}; where everything stands:\n")
    for task in asyncio.all_tasks():
        report.write(f"Task {task.get_name()}:\n{''.join(traceback.format_list(awaiting(task)))}")
    for ident, frame in sys._current_frames().items():
        report.write(f"Thread {ident}:\n{''.join(traceback.format_stack(frame))}")
    return report.getvalue()


def awaiting(task: asyncio.Task[Any]) -> traceback.StackSummary:
    """The chain of coroutines `task` is suspended in, outermost first: `Task.print_stack`
    shows a suspended task's outermost frame only, which says nothing of where it waits."""
    frames = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            frames.append((frame, frame.f_lineno))
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return traceback.StackSummary.extract(frames)
