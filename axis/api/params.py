"""The types of query and path parameters, shared by every router, so that each value is
checked by its model before a handler sees it: what the database or the standard library
cannot take (a datetime without a zone or outside the calendar, an integer past 64 bits, a
NUL byte, a forged cursor) is a 422 problem, never a 500.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Annotated

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    StringConstraints,
    TypeAdapter,
)

from axis.problem import Problem

INT64_MAX = 2**63 - 1
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _date_time_text(value: object) -> object:
    """Only a written date-time: pydantic would also read a number as Unix seconds."""
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time, such as 2026-01-31T08:00:00+07:00")
    return value


def _within_range(moment: datetime) -> datetime:
    """Compared in UTC, so that converting it (as the database does) cannot overflow."""
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return moment


Moment = Annotated[AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_within_range)]
"""An RFC 3339 date-time with its zone (`Z` or an offset: a zone-less one is refused, not
guessed), between 1970-01-01 and 9999-12-31 UTC."""

Count = Annotated[int, Interval(ge=0, le=INT64_MAX)]
"""A size, position or offset: 0 up to 2^63-1, the most any database column holds."""

Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""An identifier or filter value (a document id, an agency code, an event type): at most
200 characters and no control characters, which no identifier holds (and PostgreSQL refuses
NUL)."""

FreeText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
"""Free text (a reason): at most 2,000 characters, anything but NUL, which PostgreSQL cannot
store."""

CursorText = Annotated[str, StringConstraints(max_length=500)]
"""A `next_cursor` as given: opaque to the client, checked by `decode_cursor`."""

_POSITION: TypeAdapter[tuple[Moment, Text]] = TypeAdapter(tuple[Moment, Text])


def encode_cursor(at: datetime, last_id: str) -> str:
    """Where the next page starts: after the row at `at` with id `last_id`."""
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), last_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position `encode_cursor` wrote; anything else is 422 `bad_cursor`."""
    try:
        at, last_id = _POSITION.validate_python(json.loads(base64.urlsafe_b64decode(cursor)))
    except ValueError as exc:  # bad base64, JSON or UTF-8, or a ValidationError
        raise Problem(
            422,
            "bad_cursor",
            "Bad cursor",
            "the cursor is not one this axis gave: page from the start",
            errors=[{"element": "query.cursor", "message": "not a cursor this axis gave"}],
        ) from exc
    return at, last_id
