"""The audit log: entries in log order, cached Merkle subtree hashes, signed checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=True),
        sa.Column("agency_code", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_entries_event_id")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_audit_entries_position")),
    )
    op.create_index(op.f("ix_audit_entries_document_id"), "audit_entries", ["document_id"])
    op.create_index(op.f("ix_audit_entries_agency_code"), "audit_entries", ["agency_code"])
    op.create_index(op.f("ix_audit_entries_at"), "audit_entries", ["at"])
    op.create_index(op.f("ix_audit_entries_event_type"), "audit_entries", ["event_type"])

    # Complete subtrees of an append-only tree never change: cached, roots and proofs at a
    # million entries read a few dozen rows instead of every leaf.
    op.create_table(
        "audit_subtrees",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("index", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_audit_subtrees")),
    )

    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_subtrees")
    op.drop_index(op.f("ix_audit_entries_event_type"), table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_at"), table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_agency_code"), table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_document_id"), table_name="audit_entries")
    op.drop_table("audit_entries")
