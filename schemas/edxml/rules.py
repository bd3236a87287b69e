"""Business rules an XSD cannot say: codes, dates, identifiers and attachment references.

Each check takes the element it is about, so every rejection names its line and element.
Why here and not in the XSD: each rule has its own error code (a client fixes a bad date
differently from a bad structure), and some depend on configuration (legacy organ codes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from schemas.edxml.errors import EnvelopeError
from schemas.edxml.limits import EnvelopeLimits
from schemas.edxml.models import StatusCode
from schemas.edxml.names import local_name

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""edXML timestamps carry no zone; every agency writes Vietnam time (UTC+7, no DST)."""

# Mã định danh (Thông tư 10/2016/TT-BTTTT, QĐ 20/2020/QĐ-TTg): four groups, the level-1
# unit rightmost: level 4 (3 digits) . level 3 (2) . level 2 (2) . level 1 (a letter and 2
# digits), e.g. 000.00.00.G22. A group is all zeros when the unit sits higher up.
_ORGAN_CODE = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
# The older 3-part form still used by some provincial systems, e.g. 28.22.H17.
_LEGACY_ORGAN_CODE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")
_DATE_DAY_FIRST = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_TIMESTAMP = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def organ_code(value: str | None, element: Any, *, legacy: bool) -> str:
    """A well-formed organisation code (mã định danh), or bad_organ_code.

    Lower levels must be zero when a higher one is: 000.05.00.G22 names a level-3 unit
    under no level-2 unit, which cannot exist.
    """
    text = (value or "").strip()
    match = _ORGAN_CODE.fullmatch(text)
    groups: Sequence[str] | None = match.groups()[:3] if match else None
    if groups is None and legacy:
        legacy_match = _LEGACY_ORGAN_CODE.fullmatch(text)
        groups = ("000", *legacy_match.groups()[:2]) if legacy_match else None
    if groups is None:
        expected = "NNN.NN.NN.XNN (e.g. 000.00.00.G22)"
        if legacy:
            expected += " or the older NN.NN.XNN (e.g. 28.22.H17)"
        raise EnvelopeError.at(
            element, "bad_organ_code", f"organisation code {text!r} is not of the form {expected}"
        )
    level4, level3, level2 = (int(group) for group in groups)
    if (level2 == 0 and (level3 or level4)) or (level3 == 0 and level4):
        raise EnvelopeError.at(
            element,
            "bad_organ_code",
            f"organisation code {text!r} names a unit below a level that is zero",
        )
    return text


def parse_optional_date(value: str | None, element: Any) -> date | None:
    """An empty element is no date; anything else must be one (see parse_date)."""
    if not (value or "").strip():
        return None
    return parse_date(value, element)


def parse_date(value: str | None, element: Any) -> date:
    """A yyyy/MM/dd date (dd/MM/yyyy is tolerated: real software writes it), or bad_date."""
    text = (value or "").strip()
    if not text:
        raise EnvelopeError.at(element, "bad_date", "the date is empty")
    match = _DATE.fullmatch(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _DATE_DAY_FIRST.fullmatch(text)
        if not match:
            raise EnvelopeError.at(
                element, "bad_date", f"{text!r} is not a date of the form yyyy/MM/dd"
            )
        day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise EnvelopeError.at(
            element, "bad_date", f"{text!r} is not a day of the calendar"
        ) from None


def parse_timestamp(value: str | None, element: Any) -> datetime:
    """A yyyy/MM/dd HH:mm:ss timestamp in Vietnam time, or bad_date."""
    text = (value or "").strip()
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        raise EnvelopeError.at(
            element, "bad_date", f"{text!r} is not a timestamp of the form yyyy/MM/dd HH:mm:ss"
        )
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=VIETNAM_TIME)
    except ValueError:
        raise EnvelopeError.at(
            element, "bad_date", f"{text!r} is not a moment of the calendar"
        ) from None


def status_code(value: str | None, element: Any) -> StatusCode:
    """One of the known status codes, or unknown_status_code."""
    text = (value or "").strip()
    try:
        return StatusCode(text)
    except ValueError:
        known = ", ".join(code.value for code in StatusCode)
        raise EnvelopeError.at(
            element, "unknown_status_code", f"status code {text!r} is not one of {known}"
        ) from None


def document_id(value: str | None, element: Any, *, parent: Any) -> str:
    """A non-empty DocumentId, or missing_document_id (naming the element or its parent)."""
    text = (value or "").strip()
    if not text:
        if element is None:
            raise EnvelopeError.at(
                parent, "missing_document_id", f"{local_name(parent)} has no DocumentId"
            )
        raise EnvelopeError.at(element, "missing_document_id", "the DocumentId is empty")
    return text


def distinct_recipients(organ_ids: Sequence[str], elements: Sequence[Any]) -> None:
    """Each To names a different organisation (a repeat would mean two deliveries)."""
    seen: set[str] = set()
    for organ_id, element in zip(organ_ids, elements, strict=True):
        if organ_id in seen:
            raise EnvelopeError.at(
                element, "duplicate_recipient", f"{organ_id} is named in To twice"
            )
        seen.add(organ_id)


def attachment_count(count: int, element: Any, limits: EnvelopeLimits) -> None:
    """At most `max_attachments` attachments."""
    if count > limits.max_attachments:
        raise EnvelopeError.at(
            element,
            "too_many_attachments",
            f"{count} attachments; at most {limits.max_attachments} are accepted",
        )


def content_key(value: str | None) -> str:
    """How a ContentId / href is compared: trimmed, without a leading 'cid:'."""
    text = (value or "").strip()
    return text[4:].strip() if text[:4].lower() == "cid:" else text


def references_resolve(
    references: Sequence[tuple[str | None, Any]], attachments: Sequence[tuple[str, Any]]
) -> None:
    """Every manifest Reference has an Attachment and every Attachment a Reference.

    Each item pairs the identifier (ContentId, or xlink:href) with its element.
    """
    attachment_keys: dict[str, Any] = {}
    for identifier, element in attachments:
        key = content_key(identifier)
        if key in attachment_keys:
            raise EnvelopeError.at(
                element,
                "attachment_mismatch",
                f"two attachments share the ContentId {identifier!r}",
            )
        attachment_keys[key] = element
    reference_keys: set[str] = set()
    for reference_id, element in references:
        key = content_key(reference_id)
        if not key:
            raise EnvelopeError.at(
                element,
                "attachment_mismatch",
                "a manifest Reference names no attachment (no ContentId, no xlink:href)",
            )
        if key in reference_keys:
            raise EnvelopeError.at(
                element, "attachment_mismatch", f"two manifest References name {reference_id!r}"
            )
        if key not in attachment_keys:
            raise EnvelopeError.at(
                element,
                "attachment_mismatch",
                f"the manifest Reference {reference_id!r} has no Attachment",
            )
        reference_keys.add(key)
    for attachment_key, element in attachment_keys.items():
        if attachment_key not in reference_keys:
            raise EnvelopeError.at(
                element,
                "attachment_mismatch",
                f"the Attachment {attachment_key!r} is not listed in the manifest",
            )
