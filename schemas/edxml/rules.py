"""Business rules an XSD cannot say: codes, dates, identifiers and attachment references.

Strict where the axis acts, liberal where it only describes. A rule guarding what routing,
security or evidence depend on (From/To, DocumentId, ResponseFor of a status, the status
code, attachments) refuses the envelope; a rule about a value the axis only records (trace
hops, descriptive dates, numbers, free text) turns a deviation into a warning that travels
with the accepted message. Each rule is declared once below (`RULES`), with its verdict and
the clause of QCVN 102:2016 or the real file that justifies it.

Each check takes the element it is about, so every refusal and warning names its line and
element. Why here and not in the XSD: each rule has its own code (a client fixes a bad date
differently from a bad structure), some are warnings, and some depend on configuration
(legacy organ codes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from schemas.edxml.errors import EnvelopeError, ErrorCode
from schemas.edxml.limits import EnvelopeLimits
from schemas.edxml.models import EnvelopeWarning, StatusCode
from schemas.edxml.names import local_name

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""edXML timestamps carry no zone; every agency writes Vietnam time (UTC+7, no DST)."""

Verdict = Literal["refuse", "warn"]


@dataclass(frozen=True)
class Rule:
    """One check: the code it reports, whether a deviation refuses or warns, and why."""

    code: ErrorCode
    verdict: Verdict
    basis: str
    """The spec clause or the real file that justifies the rule and its verdict."""


QCVN = "QCVN 102:2016"
ROUTED_ORGAN_CODE = Rule(
    "bad_organ_code",
    "refuse",
    f"{QCVN} MessageHeader From/To OrganId, mã định danh of TT 10/2016/TT-BTTTT: the axis "
    "routes on them (the registry decides anyway)",
)
ANSWERED_ORGAN_CODE = Rule(
    "bad_organ_code",
    "refuse",
    f"{QCVN} status ResponseFor/OrganId: with the DocumentId it finds the document answered "
    "and, for a recall (13), the recipient asked",
)
RECORDED_ORGAN_CODE = Rule(
    "bad_organ_code",
    "warn",
    f"{QCVN} TraceHeader, Receiver, ReplacementInfo and a document's ResponseFor OrganId: "
    "recorded only; files the VDXP SDK's own example writes carry hop codes whose last group "
    "is not a letter and two digits, with a unit under a zero level (issue 10)",
)
DESCRIPTIVE_DATE = Rule(
    "bad_date",
    "warn",
    f"{QCVN} PromulgationDate, DueDate, ResponseFor/PromulgationDate (yyyy/MM/dd): recorded "
    "only; bkav_edoc_new.edxml writes 30/10/2020",
)
DESCRIPTIVE_TIMESTAMP = Rule(
    "bad_date",
    "warn",
    f"{QCVN} TraceHeader and status Timestamp (yyyy/MM/dd HH:mm:ss): recorded only, the axis "
    "keeps its own receipt time",
)
RECORDED_NUMBER = Rule(
    "bad_number",
    "warn",
    f"{QCVN} Type, TypeDetail, Priority, PageAmount, SteeringType, Paper, ... (whole numbers) "
    "and Direction (true/false): recorded only; bkav_edoc_new.edxml leaves some empty",
)
FREE_TEXT = Rule(
    "empty_text",
    "warn",
    f"{QCVN} Subject: free text the axis only records",
)
STATUS_CODE = Rule(
    "unknown_status_code",
    "refuse",
    f"{QCVN} / QĐ 28/2018/QĐ-TTg status codes: the axis routes on them (13 goes to recipients, "
    "the rest to the sender)",
)
DOCUMENT_ID = Rule(
    "missing_document_id",
    "refuse",
    f"{QCVN} DocumentId of a document, of a status's ResponseFor and of a ReplacementInfo: "
    "it identifies the document (ids, repeats, statuses, changes)",
)
DISTINCT_RECIPIENTS = Rule(
    "duplicate_recipient",
    "refuse",
    f"{QCVN} To: one delivery per recipient; a repeated To would mean two",
)
ATTACHMENT_COUNT = Rule(
    "too_many_attachments",
    "refuse",
    "AXIS_MAX_ATTACHMENTS: a bound on every request (hostile input)",
)
ATTACHMENTS_MATCH = Rule(
    "attachment_mismatch",
    "refuse",
    f"{QCVN} edXMLManifest/Reference and AttachmentEncoded/Attachment: what is signed and "
    "delivered must be what the manifest lists",
)
HIDDEN_MARKUP = Rule(
    "hidden_markup",
    "refuse",
    f"{QCVN} every value the axis reads (From/To OrganId, DocumentId, StatusCode, "
    "ResponseFor, ...): a comment or processing instruction inside one splits it, so the axis "
    "(all its text) and a recipient reading `.text` (the text before it) would read different "
    "values, and canonicalisation drops comments from what is signed (issue 12)",
)

RULES: tuple[Rule, ...] = (
    ROUTED_ORGAN_CODE,
    ANSWERED_ORGAN_CODE,
    RECORDED_ORGAN_CODE,
    DESCRIPTIVE_DATE,
    DESCRIPTIVE_TIMESTAMP,
    RECORDED_NUMBER,
    FREE_TEXT,
    STATUS_CODE,
    DOCUMENT_ID,
    DISTINCT_RECIPIENTS,
    ATTACHMENT_COUNT,
    ATTACHMENTS_MATCH,
    HIDDEN_MARKUP,
)
"""Every rule, in one table (the README and the tests read it)."""


@dataclass
class Reading:
    """One envelope being read: the configuration, and the warnings found so far."""

    legacy_organ_codes: bool
    warnings: list[EnvelopeWarning] = field(default_factory=list)

    def report(self, rule: Rule, element: Any, message: str) -> None:
        """Raise the deviation if `rule` refuses, else keep it as a warning."""
        error = EnvelopeError.at(element, rule.code, message)
        if rule.verdict == "refuse":
            raise error
        self.warnings.append(EnvelopeWarning.model_validate(error.as_dict()))


# Mã định danh (Thông tư 10/2016/TT-BTTTT, QĐ 20/2020/QĐ-TTg): four groups, the level-1
# unit rightmost: level 4 (3 digits) . level 3 (2) . level 2 (2) . level 1 (a letter and 2
# digits), e.g. 000.00.00.G22. A group is all zeros when the unit sits higher up.
_ORGAN_CODE = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
# The older 3-part form still used by some provincial systems, e.g. 28.22.H17.
_LEGACY_ORGAN_CODE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")
_DATE_DAY_FIRST = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_TIMESTAMP = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def organ_code(value: str | None, element: Any, reading: Reading, rule: Rule) -> str:
    """The organisation code (mã định danh) as written, once checked under `rule`.

    Lower levels must be zero when a higher one is: 000.05.00.G22 names a level-3 unit
    under no level-2 unit, which cannot exist.
    """
    text = (value or "").strip()
    legacy = reading.legacy_organ_codes
    match = _ORGAN_CODE.fullmatch(text)
    groups: Sequence[str] | None = match.groups()[:3] if match else None
    if groups is None and legacy:
        legacy_match = _LEGACY_ORGAN_CODE.fullmatch(text)
        groups = ("000", *legacy_match.groups()[:2]) if legacy_match else None
    if groups is None:
        expected = "NNN.NN.NN.XNN (e.g. 000.00.00.G22)"
        if legacy:
            expected += " or the older NN.NN.XNN (e.g. 28.22.H17)"
        reading.report(rule, element, f"organisation code {text!r} is not of the form {expected}")
        return text
    level4, level3, level2 = (int(group) for group in groups)
    if (level2 == 0 and (level3 or level4)) or (level3 == 0 and level4):
        reading.report(
            rule, element, f"organisation code {text!r} names a unit below a level that is zero"
        )
    return text


def descriptive_date(value: str | None, element: Any, reading: Reading) -> date | None:
    """A yyyy/MM/dd date; None (and a warning) when it cannot be read; empty is no date.

    dd/MM/yyyy is read too (bkav_edoc_new.edxml writes it), with a warning.
    """
    text = (value or "").strip()
    if not text:
        return None
    match = _DATE.fullmatch(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _DATE_DAY_FIRST.fullmatch(text)
        if not match:
            reading.report(
                DESCRIPTIVE_DATE, element, f"{text!r} is not a date of the form yyyy/MM/dd"
            )
            return None
        day, month, year = (int(part) for part in match.groups())
    try:
        found = date(year, month, day)
    except ValueError:
        reading.report(DESCRIPTIVE_DATE, element, f"{text!r} is not a day of the calendar")
        return None
    if match.re is _DATE_DAY_FIRST:
        reading.report(DESCRIPTIVE_DATE, element, f"{text!r} is written dd/MM/yyyy, not yyyy/MM/dd")
    return found


def descriptive_timestamp(value: str | None, element: Any, reading: Reading) -> datetime | None:
    """A yyyy/MM/dd HH:mm:ss timestamp in Vietnam time; None (and a warning) otherwise."""
    text = (value or "").strip()
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        reading.report(
            DESCRIPTIVE_TIMESTAMP,
            element,
            f"{text!r} is not a timestamp of the form yyyy/MM/dd HH:mm:ss",
        )
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=VIETNAM_TIME)
    except ValueError:
        reading.report(DESCRIPTIVE_TIMESTAMP, element, f"{text!r} is not a moment of the calendar")
        return None


_INTEGER = re.compile(r"[+-]?0*[0-9]{1,18}")


def recorded_integer(value: str | None, element: Any, reading: Reading) -> int | None:
    """A whole number; None when empty, or (with a warning) when it is not one."""
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):
        reading.report(RECORDED_NUMBER, element, f"{value!r} is not a whole number")
        return None
    return int(value)


def recorded_boolean(value: str | None, element: Any, reading: Reading) -> bool | None:
    """true/1 or false/0; None when empty, or (with a warning) when it is neither."""
    if value is None:
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    reading.report(RECORDED_NUMBER, element, f"{value!r} is not true or false")
    return None


def free_text(value: str | None, element: Any, reading: Reading) -> str | None:
    """Text the axis only records; empty is said with a warning."""
    if value is None:
        reading.report(FREE_TEXT, element, f"the {local_name(element)} is empty")
    return value


def no_hidden_markup(element: Any) -> None:
    """hidden_markup when a comment or processing instruction stands inside a value."""
    for child in element:
        if not isinstance(child.tag, str):
            raise EnvelopeError(
                HIDDEN_MARKUP.code,
                f"a comment or processing instruction inside the value of {local_name(element)}",
                line=child.sourceline or element.sourceline,
                element=local_name(element),
            )


def status_code(value: str | None, element: Any) -> StatusCode:
    """One of the known status codes, or unknown_status_code."""
    text = (value or "").strip()
    try:
        return StatusCode(text)
    except ValueError:
        known = ", ".join(code.value for code in StatusCode)
        raise EnvelopeError.at(
            element, STATUS_CODE.code, f"status code {text!r} is not one of {known}"
        ) from None


def document_id(value: str | None, element: Any, *, parent: Any) -> str:
    """A non-empty DocumentId, or missing_document_id (naming the element or its parent)."""
    text = (value or "").strip()
    if not text:
        if element is None:
            raise EnvelopeError.at(
                parent, DOCUMENT_ID.code, f"{local_name(parent)} has no DocumentId"
            )
        raise EnvelopeError.at(element, DOCUMENT_ID.code, "the DocumentId is empty")
    return text


def distinct_recipients(organ_ids: Sequence[str], elements: Sequence[Any]) -> None:
    """Each To names a different organisation (a repeat would mean two deliveries)."""
    seen: set[str] = set()
    for organ_id, element in zip(organ_ids, elements, strict=True):
        if organ_id in seen:
            raise EnvelopeError.at(
                element, DISTINCT_RECIPIENTS.code, f"{organ_id} is named in To twice"
            )
        seen.add(organ_id)


def attachment_count(count: int, element: Any, limits: EnvelopeLimits) -> None:
    """At most `max_attachments` attachments."""
    if count > limits.max_attachments:
        raise EnvelopeError.at(
            element,
            ATTACHMENT_COUNT.code,
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
    code = ATTACHMENTS_MATCH.code
    attachment_keys: dict[str, Any] = {}
    for identifier, element in attachments:
        key = content_key(identifier)
        if key in attachment_keys:
            raise EnvelopeError.at(
                element, code, f"two attachments share the ContentId {identifier!r}"
            )
        attachment_keys[key] = element
    reference_keys: set[str] = set()
    for reference_id, element in references:
        key = content_key(reference_id)
        if not key:
            raise EnvelopeError.at(
                element,
                code,
                "a manifest Reference names no attachment (no ContentId, no xlink:href)",
            )
        if key in reference_keys:
            raise EnvelopeError.at(element, code, f"two manifest References name {reference_id!r}")
        if key not in attachment_keys:
            raise EnvelopeError.at(
                element, code, f"the manifest Reference {reference_id!r} has no Attachment"
            )
        reference_keys.add(key)
    for attachment_key, element in attachment_keys.items():
        if attachment_key not in reference_keys:
            raise EnvelopeError.at(
                element, code, f"the Attachment {attachment_key!r} is not listed in the manifest"
            )
