"""A checked token's principal is remembered for a moment, then looked up again."""

from __future__ import annotations

import time

from axis.api.recent_tokens import RecentTokens
from axis.credentials import Principal
from axis.storage.models import Role

ALICE = Principal(Role.AGENCY, "000.00.00.G22", "t-alice")
BOB = Principal(Role.OPERATOR, None, "t-bob")


def test_a_principal_is_remembered_until_its_time_is_up() -> None:
    recent = RecentTokens(ttl=0.05)
    recent.remember("alice", ALICE)
    assert recent.get("alice") == ALICE
    assert recent.get("bob") is None
    deadline = time.monotonic() + 5
    while recent.get("alice") is not None:
        assert time.monotonic() < deadline, "never forgotten"


def test_a_revocation_forgets_everyone_and_no_ttl_remembers_nothing() -> None:
    recent = RecentTokens(ttl=60)
    recent.remember("alice", ALICE)
    recent.remember("bob", BOB)
    recent.forget_all()
    assert recent.get("alice") is None and recent.get("bob") is None
    never = RecentTokens(ttl=0)
    never.remember("alice", ALICE)
    assert never.get("alice") is None


def test_past_its_capacity_the_oldest_is_forgotten() -> None:
    recent = RecentTokens(ttl=60, capacity=2)
    recent.remember("alice", ALICE)
    recent.remember("bob", BOB)
    recent.remember("carol", ALICE)
    assert recent.get("alice") is None
    assert recent.get("bob") == BOB and recent.get("carol") == ALICE
