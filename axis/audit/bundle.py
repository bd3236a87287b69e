"""Audit bundles: a range of the log as JSON lines that anyone can verify offline
(`axis audit verify`), with nothing but the axis's certificate.

Format `edoc-axis/audit-bundle/1`: UTF-8, one JSON object per line, hashes and bytes in
standard base64, in this order:

1. `{"type": "bundle", "format": ..., "origin": <log name>, "from": F, "to": T, "exported_at": ...}`
2. `{"type": "frontier", "size": F, "hashes": [...]}`: the complete subtree hashes of the
   first F entries (RFC 9162 decomposition, largest first). With them the verifier
   recomputes roots without the entries before F; they are trusted only because the first
   checkpoint's signed root, recomputed through them, matches.
3. The anchor, when a checkpoint of size A <= F exists: the last such checkpoint (a
   checkpoint line without `consistency`). An auditor who already holds it sees that the
   range extends the log they knew.
4. For each position p from F to T - 1, `{"type": "entry", "position": p, "leaf_hash": ...,
   "entry": ...}`; right after the entry at s - 1, every checkpoint of size s:
   `{"type": "checkpoint", "size": s, "note": <signed note>, "timestamp": <RFC 3161 token or
   null>, "consistency": [...]}`, the consistency proof from the previous checkpoint in the
   bundle (the anchor included; empty for the first checkpoint without an anchor).
5. `{"type": "end", "entries": T - F, "checkpoints": <in-range checkpoints>}`: a cut bundle
   lacks it.

T is the size of a checkpoint, so a signature covers every entry of a bundle. The live
store is checked with `signed_only=False`: the entries the writer has not signed yet come
last, after the last checkpoint, and are reported as such.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.audit import merkle
from axis.audit.tree import DatabaseLeafStore, log_size
from axis.storage.models import AuditCheckpoint, AuditEntry

FORMAT = "edoc-axis/audit-bundle/1"
CHUNK = 1000
"""Entries read from the database per query while exporting."""


class BundleRangeError(ValueError):
    """The range asked for holds nothing a checkpoint signs."""


@dataclass(frozen=True)
class BundleRange:
    origin: str
    start: int
    end: int
    anchor: AuditCheckpoint | None
    """The last checkpoint at or before `start`."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def bundle_range(
    session: AsyncSession, origin: str, start: int, end: int | None, *, signed_only: bool = True
) -> BundleRange:
    """The range [start, end) to export: `end` defaults to the whole log and, when
    `signed_only`, comes down to the size of the last checkpoint within it."""
    size = await log_size(session)
    end = size if end is None else min(end, size)
    if signed_only:
        signed = await session.scalar(
            select(func.max(AuditCheckpoint.size)).where(AuditCheckpoint.size <= end)
        )
        end = int(signed or 0)
    if start > end or (signed_only and start == end):
        raise BundleRangeError(
            f"no signed checkpoint ends a range from {start}: the log holds {size} entries and "
            f"the last checkpoint at or below the end asked for is at {end}"
        )
    anchor = await session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.size <= start)
        .order_by(AuditCheckpoint.size.desc())
        .limit(1)
    )
    return BundleRange(origin, start, end, anchor)


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _checkpoint_line(checkpoint: AuditCheckpoint, proof: list[bytes] | None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "checkpoint",
        "size": checkpoint.size,
        "note": checkpoint.note,
        "timestamp": b64(checkpoint.timestamp) if checkpoint.timestamp else None,
    }
    if proof is not None:
        line["consistency"] = [b64(node) for node in proof]
    return line


async def _proof(store: DatabaseLeafStore, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, new_size), or none when the store cannot make it (rows gone: the
    verifier reports the gap at its position before it needs this)."""
    try:
        return await merkle.consistency_proof(store, old_size, new_size)
    except ValueError:
        return []


async def bundle_lines(
    sessions: async_sessionmaker[AsyncSession], span: BundleRange
) -> AsyncIterator[bytes]:
    """The bundle for `span`, line by line, reading the log a chunk at a time (the log only
    grows, so chunks read in separate transactions still make one consistent range).

    It writes what the store holds, damage included: judging it is the verifier's job."""
    yield _line(
        {
            "type": "bundle",
            "format": FORMAT,
            "origin": span.origin,
            "from": span.start,
            "to": span.end,
            "exported_at": datetime.now(UTC).isoformat(),
        }
    )
    async with sessions.begin() as session:
        try:
            hashes = await merkle.frontier(DatabaseLeafStore(session), span.start)
        except ValueError:
            hashes = []
        pending = list(
            await session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.size > span.start, AuditCheckpoint.size <= span.end)
                .order_by(AuditCheckpoint.size)
            )
        )
    yield _line({"type": "frontier", "size": span.start, "hashes": [b64(h) for h in hashes]})
    if span.anchor is not None:
        yield _line(_checkpoint_line(span.anchor, None))
    previous = span.anchor.size if span.anchor is not None else 0
    checkpoints = len(pending)
    for chunk_start in range(span.start, span.end, CHUNK):
        chunk_end = min(chunk_start + CHUNK, span.end)
        due = [checkpoint for checkpoint in pending if checkpoint.size <= chunk_end]
        del pending[: len(due)]
        async with sessions.begin() as session:
            rows = (
                await session.execute(
                    select(AuditEntry.position, AuditEntry.leaf_hash, AuditEntry.entry)
                    .where(AuditEntry.position >= chunk_start, AuditEntry.position < chunk_end)
                    .order_by(AuditEntry.position)
                )
            ).all()
            store = DatabaseLeafStore(session)
            proofs = []
            for checkpoint in due:
                proofs.append(await _proof(store, previous, checkpoint.size))
                previous = checkpoint.size
        lines = [
            (
                row.position,
                0,
                {
                    "type": "entry",
                    "position": row.position,
                    "leaf_hash": b64(row.leaf_hash),
                    "entry": b64(row.entry),
                },
            )
            for row in rows
        ]
        lines += [
            (checkpoint.size - 1, 1, _checkpoint_line(checkpoint, proof))
            for checkpoint, proof in zip(due, proofs, strict=True)
        ]
        for _, _, line in sorted(lines, key=lambda item: item[:2]):
            yield _line(line)
    yield _line({"type": "end", "entries": span.end - span.start, "checkpoints": checkpoints})
