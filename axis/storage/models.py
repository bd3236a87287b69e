"""The axis's tables, as SQLAlchemy 2 typed declarative models.

The bus is the log of record; these tables are the projection the API and the dashboard
query. They are kept identical on SQLite and PostgreSQL: no native enum types (enums are
VARCHAR + CHECK), and every timestamp goes through `UTCDateTime`, so a value read back is
always a timezone-aware UTC `datetime` whichever database stored it.

Schema changes go through a hand-written Alembic migration in `migrations/versions/`;
`tests/storage` checks that the migrated schema and these models agree.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.types import TypeDecorator

# Constraint names are part of the schema: migrations (and SQLite batch mode) refer to them by
# name, so they must be the same on every database instead of being left to the server.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORGAN_CODE_LENGTH = 64
"""Room for any organisation code (mã định danh); real ones look like `000.00.00.G22`."""

EDXML_DOCUMENT_ID_LENGTH = 255
"""edXML DocumentId, e.g. `000.00.00.G22,2015/09/30,7816/VPCP-TTĐT` or a UUID."""


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the tables accept)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware in UTC.

    PostgreSQL keeps `timestamptz` natively; SQLite has no timezone type and SQLAlchemy
    would silently drop the offset, so values are normalised to UTC before they are bound
    and marked UTC when read. Naive datetimes are refused: their meaning is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the axis stores only aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every axis table; carries the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AgencyLevel(enum.StrEnum):
    """Administrative level of an agency (the four levels of the Vietnamese state)."""

    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class AgencyStatus(enum.StrEnum):
    """Whether an agency may currently send and receive through the axis."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


def _enum_values(enum_cls: type[enum.StrEnum]) -> list[str]:
    """Store an enum by its value (`"central"`), not its Python name (`"CENTRAL"`)."""
    return [member.value for member in enum_cls]


def _string_enum(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """An enum column as VARCHAR + CHECK (the same schema on SQLite and PostgreSQL)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=_enum_values,
        validate_strings=True,
    )


class Agency(Base):
    """A registered agency, identified by its organisation code, in a tree of parents."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(ORGAN_CODE_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    parent_code: Mapped[str | None] = mapped_column(
        String(ORGAN_CODE_LENGTH),
        ForeignKey("agencies.code", ondelete="RESTRICT"),
        index=True,
    )
    level: Mapped[AgencyLevel] = mapped_column(_string_enum(AgencyLevel, "level"))
    status: Mapped[AgencyStatus] = mapped_column(
        _string_enum(AgencyStatus, "status"),
        default=AgencyStatus.ACTIVE,
        server_default=AgencyStatus.ACTIVE.value,
    )
    delivery: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=lambda: {"kind": "pull"}, server_default='{"kind": "pull"}'
    )
    """How documents reach the agency: push (URL, timeout, retry policy), pull or file drop."""
    allow_sha1: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    """Legacy agencies whose software still signs with RSA-SHA1 (an operator's decision)."""
    unsigned_statuses: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    """Accept status messages authenticated by the agency's token alone (real software today)."""
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    # lazy="raise": under asyncio an implicit lazy load cannot run; load relations explicitly
    # (selectinload) so a forgotten one is a clear error instead of a MissingGreenlet.
    parent: Mapped[Agency | None] = relationship(
        remote_side=[code], back_populates="children", lazy="raise"
    )
    children: Mapped[list[Agency]] = relationship(back_populates="parent", lazy="raise")

    __table_args__ = (
        CheckConstraint("code <> ''", name="code_not_empty"),
        CheckConstraint("parent_code IS NULL OR parent_code <> code", name="not_own_parent"),
    )

    def __repr__(self) -> str:
        return f"Agency(code={self.code!r}, level={self.level!r}, status={self.status!r})"


class Document(Base):
    """One document as the axis accepted it; its original bytes are in the blob store.

    A sender's DocumentId names one document: a retry with the same bytes is the same row,
    other bytes under the same id are refused.
    """

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    sender_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="RESTRICT")
    )
    edxml_document_id: Mapped[str] = mapped_column(String(EDXML_DOCUMENT_ID_LENGTH))
    content_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the original bytes, lowercase hex; also the blob store key."""
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    business_doc_type: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    """0 new, 1 revoke, 2 update, 3 replace (edXML BussinessDocType)."""
    changes_document_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="RESTRICT")
    )
    """For a revoke, update or replace: the earlier document of the same sender it changes."""
    certificate_fingerprint: Mapped[str] = mapped_column(String(64))
    """The registered certificate the sender's signature verified with."""
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    """The axis's signed receipt, in the blob store."""
    transit_sha256: Mapped[str] = mapped_column(String(64))
    """The axis's signed transit record, delivered with the original bytes."""
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    """Deviations in values the axis only records (code, message, line, element)."""

    sender: Mapped[Agency] = relationship(lazy="raise")
    recipients: Mapped[list[DocumentRecipient]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="DocumentRecipient.agency_code"
    )

    __table_args__ = (
        UniqueConstraint("sender_code", "edxml_document_id"),
        CheckConstraint("length(content_sha256) = 64", name="sha256_length"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
        CheckConstraint("business_doc_type BETWEEN 0 AND 3", name="business_doc_type"),
        Index("ix_documents_received_at", "received_at"),
    )

    def __repr__(self) -> str:
        return (
            f"Document(id={self.id!r}, sender_code={self.sender_code!r}, "
            f"edxml_document_id={self.edxml_document_id!r})"
        )


class DocumentRecipient(Base):
    """One addressee of a document."""

    __tablename__ = "document_recipients"

    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    agency_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH),
        ForeignKey("agencies.code", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    )


class Status(Base):
    """A status message (01..16) an agency sent about a document; bytes in the blob store."""

    __tablename__ = "statuses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    sender_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="RESTRICT")
    )
    status_code: Mapped[str] = mapped_column(String(2))
    content_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(64))
    """None when the agency's policy let it send the status unsigned."""
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    transit_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    """As for a document: its descriptive fields' deviations."""

    __table_args__ = (UniqueConstraint("sender_code", "content_sha256"),)


class DeliveryState(enum.StrEnum):
    """Where one delivery to one recipient stands."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    """Pushed and answered 2xx, written to the drop folder, or waiting in the pull inbox."""
    RETRYING = "retrying"
    DEAD = "dead"
    ACKED_DONE = "acked_done"
    ACKED_FAIL = "acked_fail"


class Delivery(Base):
    """One document or status on its way to one recipient; its id travels with it."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    """`edoc` or `status`."""
    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    status_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("statuses.id", ondelete="CASCADE")
    )
    sender_code: Mapped[str] = mapped_column(String(ORGAN_CODE_LENGTH))
    recipient_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="RESTRICT")
    )
    content_sha256: Mapped[str] = mapped_column(String(64))
    transit_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[DeliveryState] = mapped_column(
        _string_enum(DeliveryState, "state"),
        default=DeliveryState.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Attempts since it was queued, or replayed last."""
    last_error: Mapped[str | None] = mapped_column(Text)
    ack_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    """When its age clock started (the retry policy's `max_age_seconds`): queued or replayed."""
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times an operator replayed it: its steps' audit event ids differ per round."""
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("kind IN ('edoc', 'status')", name="kind"),
        # The inbox query: one recipient's deliveries, oldest first.
        Index("ix_deliveries_recipient_created", "recipient_code", "created_at"),
        # The dead letters the console's overview counts every few seconds.
        Index("ix_deliveries_state", "state"),
    )


class AgencyCertificate(Base):
    """A signing certificate registered for an agency; several overlap during rotation."""

    __tablename__ = "agency_certificates"

    fingerprint_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="CASCADE"), index=True
    )
    pem: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    added_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("length(fingerprint_sha256) = 64", name="fingerprint_length"),
        CheckConstraint("not_before < not_after", name="validity_window"),
    )


class Role(enum.StrEnum):
    """Who a bearer token speaks for."""

    AGENCY = "agency"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class ApiToken(Base):
    """An opaque bearer token, stored only as its SHA-256 digest.

    Tokens are 256-bit random strings, so a plain digest cannot be brute-forced and a
    lookup by digest stays one index probe per request.
    """

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_string_enum(Role, "role"))
    agency_code: Mapped[str | None] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(
            "(role = 'agency') = (agency_code IS NOT NULL)", name="agency_token_has_agency"
        ),
    )


class AuditEntry(Base):
    """One event in the audit log, at its leaf position of the Merkle tree.

    `entry` is `{"event": ..., "position": ...}` as canonical JSON (axis.audit.writer): the
    exact bytes the leaf hash covers, so anyone can recompute the tree from an export.
    """

    __tablename__ = "audit_entries"

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    agency_code: Mapped[str | None] = mapped_column(String(ORGAN_CODE_LENGTH), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (CheckConstraint("position >= 0", name="position"),)


class AuditSubtree(Base):
    """The hash of a complete subtree of the audit log's Merkle tree (it never changes)."""

    __tablename__ = "audit_subtrees"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head: the log had `size` entries with this root at this time."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)
    """The checkpoint as a signed note (signing/checkpoints.py): what auditors verify."""
    timestamp: Mapped[bytes | None] = mapped_column(LargeBinary)
    """An RFC 3161 timestamp token over the note, when a TSA is configured."""


class VdxpAccess(Base):
    """An agency's credentials on the VDXP endpoints (`axis/vdxp/`): its `systemid` and the
    HMAC secret it shares with the axis. The secret is stored as it is, like a push secret:
    verifying an HMAC needs the key itself."""

    __tablename__ = "vdxp_access"

    agency_code: Mapped[str] = mapped_column(
        String(ORGAN_CODE_LENGTH), ForeignKey("agencies.code", ondelete="CASCADE"), primary_key=True
    )
    system_id: Mapped[str] = mapped_column(String(128), unique=True)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class VdxpSeenRequest(Base):
    """A VDXP request's `XroadVnpt-hash-header`, kept until its timestamp leaves the window:
    the same one again inside it is a replay. In the database so that every API process
    sees every other's."""

    __tablename__ = "vdxp_seen_requests"

    hash_header: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ConsoleSession(Base):
    """A signed-in console (axis/console/sessions.py): only a digest of the cookie's session
    id is kept, with the token it was opened with, so that revoking the token ends it."""

    __tablename__ = "console_sessions"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(_string_enum(Role, "role"))
    agency_code: Mapped[str | None] = mapped_column(String(ORGAN_CODE_LENGTH))
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
