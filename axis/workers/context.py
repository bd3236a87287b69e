"""What the workers share: the bus, the database, the blob store, settings, an HTTP client."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from functools import cached_property

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.bus import Bus
from axis.config import Settings
from axis.delivery.lifecycle import Lifecycle
from axis.storage.blobs import BlobStore


@dataclass(frozen=True)
class WorkerContext:
    bus: Bus
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    settings: Settings
    http: httpx.AsyncClient
    """One pooled HTTP client for every push."""
    delivering: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    """A lock per delivery id being handled in this process (gone when nobody holds it), so
    two requests for one delivery (a replayed router, a replay racing a retry) are handled
    one after the other: the second finds it delivered instead of pushing it again."""

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """The one owner of delivery state, on this context's database and bus: one for the
        process, so the reads and outcomes of the attempts running side by side share
        queries and transactions."""
        return Lifecycle(self.sessions, self.bus)
