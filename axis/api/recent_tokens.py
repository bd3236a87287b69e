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

from axis.credentials import Principal
from axis.expiring import Expiring


class RecentTokens(Expiring[str, Principal]):
    """Token digest -> principal, each for `ttl` seconds, at most `capacity` of them."""

    def forget_all(self) -> None:
        """After a revocation: every token is checked against the database again."""
        self.clear()
