"""A refused request: HTTP status, a stable code, and what was wrong (with where).

Raised anywhere on the request path (routers, the pipeline); `axis/api/problems.py` renders
it as an RFC 9457 problem document. It lives outside `api/` so that the pipeline can raise it
without reaching back up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TYPE_PREFIX = "urn:edoc-axis:problem:"


class Problem(Exception):
    """An answer that is not a success: HTTP status, a stable code, and what was wrong.

    `errors` lists the individual faults (`{"element": ..., "line": ..., "message": ...}`).
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body
