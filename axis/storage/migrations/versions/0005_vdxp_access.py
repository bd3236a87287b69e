"""VDXP access: an agency's systemid and HMAC secret, and the hash-headers seen recently.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23

Hand-written, constraint names spelled out as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vdxp_access",
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.Column("system_id", sa.String(128), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("agency_code", name=op.f("pk_vdxp_access")),
        sa.UniqueConstraint("system_id", name=op.f("uq_vdxp_access_system_id")),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agencies.code"],
            name=op.f("fk_vdxp_access_agency_code_agencies"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "vdxp_seen_requests",
        sa.Column("hash_header", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hash_header", name=op.f("pk_vdxp_seen_requests")),
    )
    op.create_index(op.f("ix_vdxp_seen_requests_expires_at"), "vdxp_seen_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_vdxp_seen_requests_expires_at"), table_name="vdxp_seen_requests")
    op.drop_table("vdxp_seen_requests")
    op.drop_table("vdxp_access")
