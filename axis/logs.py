"""The log lines of the axis's long-running processes: when, which process, what.

Without this, Python's last-resort handler wrote warnings and errors bare, with no time and
no process, and a crash or a recovery could not be placed against anything else.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """The axis's own records from `level` (`AXIS_LOG_LEVEL`) and every library's warnings
    and errors, to stderr, timestamped. (Libraries' info is per request for some, httpx's.)"""
    logging.basicConfig(format=FORMAT, level=logging.WARNING)
    known = logging.getLevelNamesMapping()
    logging.getLogger("axis").setLevel(known.get(level.upper(), logging.DEBUG))  # uvicorn's trace
