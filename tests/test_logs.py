"""The long-running processes' log lines: timestamped, with the process id, the axis's own
records from AXIS_LOG_LEVEL and every library's warnings."""

from __future__ import annotations

import re
import subprocess
import sys

SCRIPT = """
import logging
from axis.logs import configure_logging
configure_logging("info")
logging.getLogger("axis.delivery").info("axis info")
logging.getLogger("aiokafka").info("library info")
logging.getLogger("aiokafka").warning("library warning")
"""


def test_lines_carry_time_and_process_and_library_info_stays_out() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    lines = done.stderr.splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert len(lines) == 2, lines
    assert re.fullmatch(rf"{stamp} INFO \[\d+\] axis.delivery: axis info", lines[0]), lines
    assert re.fullmatch(rf"{stamp} WARNING \[\d+\] aiokafka: library warning", lines[1]), lines
