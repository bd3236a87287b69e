"""Agencies, documents, their recipients and status messages: the first tables of the axis.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Hand-written. Constraint names are spelled out in full and marked final with `op.f` (so the
naming convention of axis/storage/models.py is not applied a second time); they match what
that convention gives the models, so later migrations can refer to them on every database.
Enums are VARCHAR + CHECK rather than PostgreSQL enum types, so that SQLite and PostgreSQL
have the same schema and adding a value is an ordinary migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("parent_code", sa.String(64), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_agencies")),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["agencies.code"],
            name=op.f("fk_agencies_parent_code_agencies"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("code <> ''", name=op.f("ck_agencies_code_not_empty")),
        sa.CheckConstraint(
            "parent_code IS NULL OR parent_code <> code", name=op.f("ck_agencies_not_own_parent")
        ),
        sa.CheckConstraint(
            "level IN ('central', 'province', 'district', 'commune')",
            name=op.f("ck_agencies_level"),
        ),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_agencies_status")),
    )
    op.create_index(op.f("ix_agencies_parent_code"), "agencies", ["parent_code"])

    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("sender_code", sa.String(64), nullable=False),
        sa.Column("edxml_document_id", sa.String(255), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("business_doc_type", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("changes_document_id", sa.String(36), nullable=True),
        sa.Column("certificate_fingerprint", sa.String(64), nullable=False),
        sa.Column("receipt_sha256", sa.String(64), nullable=False),
        sa.Column("transit_sha256", sa.String(64), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.ForeignKeyConstraint(
            ["sender_code"],
            ["agencies.code"],
            name=op.f("fk_documents_sender_code_agencies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["changes_document_id"],
            ["documents.id"],
            name=op.f("fk_documents_changes_document_id_documents"),
            ondelete="RESTRICT",
        ),
        # One DocumentId per sender: a retry is the same row, other bytes under the same id
        # are refused (409). Its leading column also serves lookups by sender.
        sa.UniqueConstraint(
            "sender_code",
            "edxml_document_id",
            name=op.f("uq_documents_sender_code_edxml_document_id"),
        ),
        sa.CheckConstraint(
            "business_doc_type BETWEEN 0 AND 3", name=op.f("ck_documents_business_doc_type")
        ),
        sa.CheckConstraint("length(content_sha256) = 64", name=op.f("ck_documents_sha256_length")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_documents_size_not_negative")),
    )
    op.create_index(op.f("ix_documents_received_at"), "documents", ["received_at"])

    op.create_table(
        "document_recipients",
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "agency_code", name=op.f("pk_document_recipients")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_recipients_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agencies.code"],
            name=op.f("fk_document_recipients_agency_code_agencies"),
            ondelete="RESTRICT",
        ),
    )
    # "Documents this agency received" is the inbox query.
    op.create_index(
        op.f("ix_document_recipients_agency_code"), "document_recipients", ["agency_code"]
    )

    op.create_table(
        "statuses",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("sender_code", sa.String(64), nullable=False),
        sa.Column("status_code", sa.String(2), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("certificate_fingerprint", sa.String(64), nullable=True),
        sa.Column("receipt_sha256", sa.String(64), nullable=False),
        sa.Column("transit_sha256", sa.String(64), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statuses")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_statuses_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_code"],
            ["agencies.code"],
            name=op.f("fk_statuses_sender_code_agencies"),
            ondelete="RESTRICT",
        ),
        # The same status message sent twice is one row (idempotent retry).
        sa.UniqueConstraint(
            "sender_code", "content_sha256", name=op.f("uq_statuses_sender_code_content_sha256")
        ),
    )
    op.create_index(op.f("ix_statuses_document_id"), "statuses", ["document_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("status_id", sa.String(36), nullable=True),
        sa.Column("sender_code", sa.String(64), nullable=False),
        sa.Column("recipient_code", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("transit_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ack_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_deliveries_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["statuses.id"],
            name=op.f("fk_deliveries_status_id_statuses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_code"],
            ["agencies.code"],
            name=op.f("fk_deliveries_recipient_code_agencies"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("kind IN ('edoc', 'status')", name=op.f("ck_deliveries_kind")),
        sa.CheckConstraint(
            "state IN ('queued', 'delivered', 'retrying', 'dead', 'acked_done', 'acked_fail')",
            name=op.f("ck_deliveries_state"),
        ),
    )
    op.create_index(op.f("ix_deliveries_document_id"), "deliveries", ["document_id"])
    op.create_index(
        "ix_deliveries_recipient_created", "deliveries", ["recipient_code", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_recipient_created", table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_document_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_statuses_document_id"), table_name="statuses")
    op.drop_table("statuses")
    op.drop_index(op.f("ix_document_recipients_agency_code"), table_name="document_recipients")
    op.drop_table("document_recipients")
    op.drop_index(op.f("ix_documents_received_at"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_agencies_parent_code"), table_name="agencies")
    op.drop_table("agencies")
