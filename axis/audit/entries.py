"""The bytes of an audit-log entry: what the writer stores, the leaf hash covers and the
offline verifier checks."""

from __future__ import annotations

from axis.events import canonical_json


def audit_entry(position: int, event: dict[str, object]) -> bytes:
    """The bytes of the log's entry at `position`: `{"event": ..., "position": ...}` as
    canonical JSON. The entry names its own position, so an entry moved, dropped or
    renumbered is caught at the very position where it no longer fits."""
    return canonical_json({"event": event, "position": position})
