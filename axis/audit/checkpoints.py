"""Checkpoints: the audit writer signs the log's size and root at an interval and every N
entries, so that anyone holding a checkpoint can later demand proofs against it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.audit import merkle
from axis.audit.tree import DatabaseLeafStore, log_size
from axis.storage.models import AuditCheckpoint, utcnow
from signing.checkpoints import Checkpoint
from signing.errors import SignatureError
from signing.signer import Signer
from signing.timestamps import request_timestamp

logger = logging.getLogger(__name__)


@dataclass
class Checkpointer:
    """When and how the writer signs checkpoints."""

    signer: Signer
    origin: str
    every_entries: int
    interval_seconds: float
    tsa_url: str | None = None
    http: httpx.AsyncClient | None = None
    _last_size: int | None = field(default=None, init=False)
    """The size of the last checkpoint (read from the database at the first call)."""
    _size: int | None = field(default=None, init=False)
    """The log's size as this writer knows it."""
    _last_time: float = field(default=0.0, init=False)

    async def maybe_checkpoint(
        self, sessions: async_sessionmaker[AsyncSession], appended: int = 0
    ) -> None:
        """Sign one if the log grew by `every_entries`, or grew at all and `interval_seconds`
        passed since the last one. `appended` is what the caller added since its last call:
        while nothing is due, the database is not touched (an idle writer takes no lock)."""
        if self._size is not None:
            self._size += appended
            if not self._due(self._size):
                return
        async with sessions.begin() as session:
            if self._last_size is None:
                signed = await session.scalar(select(func.max(AuditCheckpoint.size)))
                self._last_size = int(signed or 0)
            self._size = await log_size(session)
            if self._due(self._size):
                await self.checkpoint(session, self._size)

    def _due(self, size: int) -> bool:
        assert self._last_size is not None
        grown = size - self._last_size
        waited = time.monotonic() - self._last_time >= self.interval_seconds
        return grown > 0 and (grown >= self.every_entries or waited)

    async def checkpoint(self, session: AsyncSession, size: int) -> AuditCheckpoint:
        """Sign the tree head at `size` and store it (with a timestamp where configured)."""
        root = await merkle.root(DatabaseLeafStore(session), size)
        note = self.signer.sign_checkpoint(
            Checkpoint(self.origin, size, root, utcnow()), self.origin
        )
        token = None
        if self.tsa_url is not None:
            try:
                token = await request_timestamp(self.tsa_url, note.encode(), client=self.http)
            except SignatureError:
                logger.exception("the TSA at %s did not stamp checkpoint %d", self.tsa_url, size)
        stored = AuditCheckpoint(size=size, root=root, at=utcnow(), note=note, timestamp=token)
        await session.merge(stored)
        self._last_size = size
        self._last_time = time.monotonic()
        return stored
