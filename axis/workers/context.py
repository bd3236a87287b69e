"""What the workers share: the bus, the database, the blob store, settings, an HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.bus import Bus
from axis.config import Settings
from axis.storage.blobs import BlobStore


@dataclass(frozen=True)
class WorkerContext:
    bus: Bus
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    settings: Settings
    http: httpx.AsyncClient
    """One pooled HTTP client for every push."""
