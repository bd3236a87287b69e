"""The pause a consume loop (the workers', the audit writer's) takes after a failure, before
it opens a new consumer.

It grows while the failure lasts, so a part that stays down costs a log line and a group
join now and then, not a tight loop. Its ceiling is short on purpose: it is also how long
the loop may stay idle after the part it waited for came back. At 30 s, the doubling
pauses of a 10 s broker or database outage added up to a minute of nothing after it.
"""

from __future__ import annotations

import asyncio

SHORTEST_SECONDS = 0.5
LONGEST_SECONDS = 4.0


class Backoff:
    """Pauses from `SHORTEST_SECONDS`, doubling up to `LONGEST_SECONDS`; `reset` once work
    went through."""

    def __init__(self) -> None:
        self.seconds = SHORTEST_SECONDS

    def reset(self) -> None:
        self.seconds = SHORTEST_SECONDS

    async def pause(self) -> None:
        await asyncio.sleep(self.seconds)
        self.seconds = min(self.seconds * 2, LONGEST_SECONDS)
