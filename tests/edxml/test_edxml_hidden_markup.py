"""A comment or processing instruction inside a value the axis reads is refused.

Why: the axis reads a value as all of its character data, while a recipient reading lxml's
`.text` gets only what comes before the first comment, and canonicalisation drops comments
from what is signed; with `000.00.00.<!--x-->G22` the two would route, answer or recall by
different codes. Markup between elements changes no value and stays accepted.
"""

from __future__ import annotations

import pytest
from edxml_template import document, line_of, status

from schemas.edxml import EnvelopeError, EnvelopeLimits, parse_envelope
from schemas.edxml.rules import HIDDEN_MARKUP, RULES

LIMITS = EnvelopeLimits()
SENDER = "000.00.00.G22"


def refusal(data: bytes) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, LIMITS)
    return caught.value


def replaced(data: bytes, old: str, new: str) -> bytes:
    """`data` with the first `old` replaced by `new`."""
    return data.replace(old.encode(), new.encode(), 1)


HIDDEN = ["<!--x-->", "<?pi x?>"]
CASES = [
    # (what, envelope, the text after which the value is split, the element named)
    ("From/OrganId", document(), "<OrganId>000.00.00.G", "OrganId"),
    ("To/OrganId", document(), "<OrganId>000.00.00.H4", "OrganId"),
    ("DocumentId", document(), "<DocumentId>000.00.00.G22,2024/01/02", "DocumentId"),
    ("Subject", document(), "<Subject>Test document", "Subject"),
    ("attachment", document(), "<ContentTransferEncoded>aGVs", "ContentTransferEncoded"),
    ("StatusCode", status(code="05"), "<StatusCode>0", "StatusCode"),
    ("ResponseFor/OrganId", status(), f"<OrganId>{SENDER}", "OrganId"),
    ("ResponseFor/DocumentId", status(), "<DocumentId>000.00.00.G22", "DocumentId"),
]


@pytest.mark.parametrize("markup", HIDDEN, ids=["comment", "pi"])
@pytest.mark.parametrize(
    ("envelope", "before", "element"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_markup_inside_a_value_is_refused(
    markup: str, envelope: bytes, before: str, element: str
) -> None:
    data = replaced(envelope, before, before + markup)
    error = refusal(data)
    assert (error.code, error.element) == ("hidden_markup", element)
    assert error.line == line_of(data, markup)


def test_a_split_sender_code_is_refused_not_read_as_the_joined_code() -> None:
    """The issue's case: all the text is a valid code, `.text` alone is not."""
    data = document(from_id="000.00.00.<!--x-->G22")
    error = refusal(data)
    assert (error.code, error.element, error.line) == (
        "hidden_markup",
        "OrganId",
        line_of(data, "<!--x-->"),
    )


def test_markup_between_elements_is_accepted() -> None:
    data = replaced(document(), "<OrganId>", "<!-- the sender --><?dms x?>\n        <OrganId>")
    data = replaced(data, "<Subject>", "<!-- a note -->\n      <Subject>")
    data = replaced(data, "<ContentTransferEncoded>", "<!--x--><ContentTransferEncoded>")
    envelope = parse_envelope(data, LIMITS)
    assert envelope.sender_id == SENDER
    answer = replaced(status(), "<StatusCode>", "<!-- code -->\n      <StatusCode>")
    assert parse_envelope(answer, LIMITS).sender_id == "000.00.00.H41"


def test_the_rule_is_declared_as_refusing() -> None:
    assert HIDDEN_MARKUP in RULES
    assert HIDDEN_MARKUP.verdict == "refuse"
