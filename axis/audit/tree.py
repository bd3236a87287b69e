"""The audit log's Merkle tree over the database: leaf hashes from `audit_entries`, complete
subtree hashes cached in `audit_subtrees` (they never change in an append-only log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from axis.audit.merkle import CACHE_LEVEL
from axis.storage.models import AuditCheckpoint, AuditEntry, AuditSubtree


class DatabaseLeafStore:
    """`axis.audit.merkle.LeafStore` and `SubtreeCache` on one database session."""

    cache_level = CACHE_LEVEL

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = await self.session.scalars(
            select(AuditEntry.leaf_hash)
            .where(AuditEntry.position >= start, AuditEntry.position < end)
            .order_by(AuditEntry.position)
        )
        return list(rows)

    async def subtree(self, level: int, index: int) -> bytes | None:
        found = await self.session.get(AuditSubtree, (level, index))
        return None if found is None else found.digest

    async def put_subtree(self, level: int, index: int, digest: bytes) -> None:
        """Cache a complete subtree's hash; another writer caching it first is fine."""
        values = {"level": level, "index": index, "digest": digest}
        dialect = (await self.session.connection()).dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.execute(insert(AuditSubtree).values(values).on_conflict_do_nothing())


async def log_size(session: AsyncSession) -> int:
    """How many entries the log holds."""
    last = await session.scalar(select(func.max(AuditEntry.position)))
    return 0 if last is None else int(last) + 1


async def last_checkpoint(session: AsyncSession) -> tuple[int, datetime] | None:
    """The size and time of the last signed checkpoint; None before the first."""
    last = (
        await session.execute(
            select(AuditCheckpoint.size, AuditCheckpoint.at)
            .order_by(AuditCheckpoint.size.desc())
            .limit(1)
        )
    ).first()
    return None if last is None else (last.size, last.at)
