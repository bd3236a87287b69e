"""The one exception every envelope check raises.

Why one type: callers (the API, the hostile-input corpus) map a rejection to a 4xx problem
document by its machine `code` alone, and must never see any other exception for any input.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

ErrorCode = Literal[
    "too_large",
    "invalid_encoding",
    "not_well_formed",
    "dtd_forbidden",
    "too_deep",
    "too_many_elements",
    "too_many_attributes",
    "schema_invalid",
    "unknown_status_code",
    "bad_organ_code",
    "bad_date",
    "missing_document_id",
    "attachment_mismatch",
    "duplicate_recipient",
    "too_many_attachments",
    "attachment_too_large",
    "bad_base64",
    "bad_number",
    "empty_text",
    "hidden_markup",
]
ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))
"""Every code an EnvelopeError (or, for a warning rule, an EnvelopeWarning) can carry."""


class EnvelopeError(Exception):
    """A rejected envelope: a machine `code`, a human `message`, and where it applies.

    `line` is the 1-based line in the received bytes (None when the tree came from somewhere
    without line numbers, e.g. a re-parsed signed subtree); `element` is the local name of
    the element concerned, never a prefix.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        line: int | None = None,
        element: str | None = None,
    ) -> None:
        self.code: ErrorCode = code
        self.message = message
        self.line = line if line else None
        self.element = element
        super().__init__(str(self))

    @classmethod
    def at(cls, element: Any, code: ErrorCode, message: str) -> EnvelopeError:
        """An error about an lxml `element`: its source line and local name (None: neither)."""
        if element is None:
            return cls(code, message)
        tag = getattr(element, "tag", None)
        name = tag.rpartition("}")[2] if isinstance(tag, str) else None
        return cls(code, message, line=getattr(element, "sourceline", None), element=name)

    def __str__(self) -> str:
        where = []
        if self.element:
            where.append(f"element {self.element}")
        if self.line:
            where.append(f"line {self.line}")
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.code}: {self.message}{suffix}"

    def __reduce__(self) -> tuple[object, ...]:
        """Keep keyword-only fields when pickled (e.g. across a process pool)."""
        return (_rebuild, (self.code, self.message, self.line, self.element))

    def as_dict(self) -> dict[str, str | int | None]:
        """The fields a problem document carries."""
        return {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "element": self.element,
        }


def _rebuild(code: ErrorCode, message: str, line: int | None, element: str | None) -> EnvelopeError:
    return EnvelopeError(code, message, line=line, element=element)
