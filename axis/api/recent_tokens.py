"""Principals of tokens checked a moment ago, so a burst of one caller's requests costs one
database lookup.

Why: a flood's waiting requests time out together, and their refusals came back in waves of
hundreds of token checks queued on the database's reading connections; another agency's
request waited behind them all (`bench/fairness.py`). A principal is remembered for `ttl`
seconds (`AXIS_TOKEN_CACHE_SECONDS`, 0: never): a revocation in this process forgets every
one at once, one in another process (`axis tokens revoke`) takes effect within `ttl`. Unknown
tokens are never remembered: anyone can invent them.
"""

from __future__ import annotations

import time

from axis.credentials import Principal


class RecentTokens:
    """Token digest -> principal, each for `ttl` seconds, at most `capacity` of them."""

    def __init__(self, ttl: float, capacity: int = 10_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, principal = entry
        if time.monotonic() >= expires:
            del self._entries[digest]
            return None
        return principal

    def remember(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries)))  # the oldest remembered
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def forget_all(self) -> None:
        """After a revocation: every token is checked against the database again."""
        self._entries.clear()
