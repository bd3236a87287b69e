"""Warnings on documents and statuses: deviations in values the axis only records.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("documents", "statuses"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("warnings", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in ("documents", "statuses"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("warnings")
