"""A map whose entries expire: what the per-process caches (tokens, registry) share."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class Expiring(Generic[Key, Value]):
    """Each value for `ttl` seconds (0: none kept), at most `capacity` of them, the oldest
    remembered going first."""

    def __init__(self, ttl: float, capacity: int = 10_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[Key, tuple[float, Value]] = {}

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        return value

    def remember(self, key: Key, value: Value) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()
