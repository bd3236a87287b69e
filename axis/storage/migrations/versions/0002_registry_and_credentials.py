"""Registry and credentials: agency delivery settings and flags, certificates, API tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Hand-written, constraint names spelled out as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(
            sa.Column("delivery", sa.JSON(), nullable=False, server_default='{"kind": "pull"}')
        )
        batch.add_column(
            sa.Column("allow_sha1", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("unsigned_statuses", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "agency_certificates",
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("fingerprint_sha256", name=op.f("pk_agency_certificates")),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agencies.code"],
            name=op.f("fk_agency_certificates_agency_code_agencies"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "length(fingerprint_sha256) = 64",
            name=op.f("ck_agency_certificates_fingerprint_length"),
        ),
        sa.CheckConstraint(
            "not_before < not_after", name=op.f("ck_agency_certificates_validity_window")
        ),
    )
    op.create_index(
        op.f("ix_agency_certificates_agency_code"), "agency_certificates", ["agency_code"]
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=True),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_tokens_digest")),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agencies.code"],
            name=op.f("fk_api_tokens_agency_code_agencies"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "role IN ('agency', 'operator', 'auditor')", name=op.f("ck_api_tokens_role")
        ),
        sa.CheckConstraint(
            "(role = 'agency') = (agency_code IS NOT NULL)",
            name=op.f("ck_api_tokens_agency_token_has_agency"),
        ),
    )
    op.create_index(op.f("ix_api_tokens_agency_code"), "api_tokens", ["agency_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_agency_code"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_agency_certificates_agency_code"), table_name="agency_certificates")
    op.drop_table("agency_certificates")
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("unsigned_statuses")
        batch.drop_column("allow_sha1")
        batch.drop_column("delivery")
