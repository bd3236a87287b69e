"""Storage of the axis: the SQL database (SQLAlchemy async + Alembic) and the blob store.

SQLite by default, PostgreSQL in production, the same code and migrations for both;
document bytes in a content-addressed directory.
"""

from axis.storage.blobs import (
    BlobCorruptedError,
    BlobError,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobIdError,
    sha256_hex,
    validate_blob_id,
)
from axis.storage.database import (
    alembic_config,
    create_engine,
    create_session_factory,
    current_revision,
    downgrade,
    head_revision,
    is_sqlite,
    migrate,
    ping,
)
from axis.storage.models import (
    Agency,
    AgencyCertificate,
    AgencyLevel,
    AgencyStatus,
    ApiToken,
    Base,
    Document,
    DocumentRecipient,
    Role,
    Status,
    UTCDateTime,
    utcnow,
)

__all__ = [
    "Agency",
    "AgencyCertificate",
    "AgencyLevel",
    "AgencyStatus",
    "ApiToken",
    "Base",
    "BlobCorruptedError",
    "BlobError",
    "BlobNotFoundError",
    "BlobStore",
    "Document",
    "DocumentRecipient",
    "InvalidBlobIdError",
    "Role",
    "Status",
    "UTCDateTime",
    "alembic_config",
    "create_engine",
    "create_session_factory",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_sqlite",
    "migrate",
    "ping",
    "sha256_hex",
    "utcnow",
    "validate_blob_id",
]
