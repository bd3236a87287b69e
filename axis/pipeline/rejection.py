"""Envelope and signature faults as problems: which are 400, 413 or 422."""

from __future__ import annotations

from axis.problem import Problem
from schemas.edxml import EnvelopeError
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


def envelope_problem(error: EnvelopeError) -> Problem:
    if error.code == "too_large":
        status = 413
    elif error.code in _UNREADABLE:
        status = 400
    else:
        status = 422
    where = {"element": error.element, "line": error.line, "message": error.message}
    return Problem(
        status,
        error.code,
        "Envelope refused",
        str(error),
        errors=[{key: value for key, value in where.items() if value is not None}],
    )


def signature_problem(error: SignatureError) -> Problem:
    return Problem(
        422,
        f"signature_{error.code}",
        "Signature refused",
        error.message,
        errors=[{"element": "Signature", "message": error.message}],
    )
