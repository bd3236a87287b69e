"""Why the pipeline refused a message, in terms the API turns into a 4xx problem document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from axis.edxml import EnvelopeError
from signing.errors import SignatureError

# Envelope faults that make the body unreadable are 400; ones found in a readable envelope
# (schema, business rules) are 422; a body over the size limit is 413.
_UNREADABLE = frozenset(
    {
        "invalid_encoding",
        "not_well_formed",
        "dtd_forbidden",
        "too_deep",
        "too_many_elements",
        "too_many_attributes",
    }
)


class Rejection(Exception):
    """A refused request: HTTP status, a stable code, and what was wrong (with where)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = list(errors)

    @classmethod
    def from_envelope_error(cls, error: EnvelopeError) -> Rejection:
        if error.code == "too_large":
            status = 413
        elif error.code in _UNREADABLE:
            status = 400
        else:
            status = 422
        where = {"element": error.element, "line": error.line, "message": error.message}
        return cls(
            status,
            error.code,
            "Envelope refused",
            str(error),
            errors=[{key: value for key, value in where.items() if value is not None}],
        )

    @classmethod
    def from_signature_error(cls, error: SignatureError) -> Rejection:
        return cls(
            422,
            f"signature_{error.code}",
            "Signature refused",
            error.message,
            errors=[{"element": "Signature", "message": error.message}],
        )
