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
        task.print_stack(file=report)
    for ident, frame in sys._current_frames().items():
        report.write(f"Thread {ident}:\n{''.join(traceback.format_stack(frame))}")
    return report.getvalue()
