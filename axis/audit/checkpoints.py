"""Checkpoints: the audit writer signs the log's size and root at an interval and every N
entries, so that anyone holding a checkpoint can later demand proofs against it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.audit import merkle
from axis.audit.tree import DatabaseLeafStore
from axis.storage.models import AuditCheckpoint, AuditEntry, utcnow
from signing.checkpoints import Checkpoint, sign_checkpoint
from signing.errors import SignatureError
from signing.keys import CertifiedKey
from signing.timestamps import request_timestamp

logger = logging.getLogger(__name__)


@dataclass
class Checkpointer:
    """When and how the writer signs checkpoints."""

    signer: CertifiedKey
    origin: str
    every_entries: int
    interval_seconds: float
    tsa_url: str | None = None
    http: httpx.AsyncClient | None = None
    _last_size: int | None = field(default=None, init=False)
    _last_time: float = field(default=0.0, init=False)

    async def maybe_checkpoint(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Sign one if the log grew by `every_entries`, or grew at all and `interval_seconds`
        passed since the last one."""
        async with sessions.begin() as session:
            if self._last_size is None:
                self._last_size = (
                    await session.scalar(
                        select(AuditCheckpoint.size).order_by(AuditCheckpoint.size.desc()).limit(1)
                    )
                    or 0
                )
            last = await session.scalar(
                select(AuditEntry.position).order_by(AuditEntry.position.desc()).limit(1)
            )
            size = 0 if last is None else last + 1
            grown = size - self._last_size
            due = time.monotonic() - self._last_time >= self.interval_seconds
            if grown <= 0 or (grown < self.every_entries and not due):
                return
            await self.checkpoint(session, size)

    async def checkpoint(self, session: AsyncSession, size: int) -> AuditCheckpoint:
        """Sign the tree head at `size` and store it (with a timestamp where configured)."""
        root = await merkle.root(DatabaseLeafStore(session), size)
        note = sign_checkpoint(
            Checkpoint(self.origin, size, root, utcnow()), self.signer, self.origin
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
