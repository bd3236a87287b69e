"""Strict where the axis acts, liberal where it describes: each rule's warn or refuse verdict.

A warning case is accepted with the warning (code, element, line); a refusing case of the
same kind of value, where the axis acts on it, is still refused.
"""

from __future__ import annotations

import pytest
from edxml_template import DEFAULT_BUSINESS, document, line_of, status

from schemas.edxml import (
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    StatusMessage,
    parse_envelope,
)
from schemas.edxml.rules import RULES, Rule, Verdict

LIMITS = EnvelopeLimits()
ISSUE_10_HOP = "000.05.00.1234"
"""What the issue's real file carries in a TraceHeader: the last group is not a letter and
two digits, and a non-zero unit sits under a zero level."""


def accepted(data: bytes) -> DocumentEnvelope | StatusMessage:
    return parse_envelope(data, LIMITS)


def warnings_of(data: bytes) -> list[tuple[str, str | None, int | None]]:
    return [(w.code, w.element, w.line) for w in accepted(data).warnings]


def refusal(data: bytes) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, LIMITS)
    return caught.value


def test_every_rule_declares_its_verdict_and_basis() -> None:
    assert len({id(rule) for rule in RULES}) == len(RULES)
    verdicts: set[Verdict] = {"refuse", "warn"}
    for rule in RULES:
        assert isinstance(rule, Rule)
        assert rule.verdict in verdicts
        assert "QCVN 102:2016" in rule.basis or ".edxml" in rule.basis or "AXIS_" in rule.basis
    refusing = {rule.code for rule in RULES if rule.verdict == "refuse"}
    assert {"bad_organ_code", "unknown_status_code", "missing_document_id"} <= refusing
    assert {rule.code for rule in RULES if rule.verdict == "warn"} == {
        "bad_organ_code",
        "bad_date",
        "bad_number",
        "empty_text",
    }


def test_the_issue_10_trace_hop_is_accepted_with_a_warning() -> None:
    trace = (
        f"      <TraceHeader>\n        <OrganId>{ISSUE_10_HOP}</OrganId>\n"
        "        <Timestamp>2024/01/02 08:30:00</Timestamp>\n      </TraceHeader>"
    )
    data = document(trace=trace)
    doc = accepted(data)
    assert isinstance(doc, DocumentEnvelope)
    assert [hop.organ_id for hop in doc.trace_headers] == [ISSUE_10_HOP]
    [warning] = doc.warnings
    assert (warning.code, warning.element, warning.line) == (
        "bad_organ_code",
        "OrganId",
        line_of(data, ISSUE_10_HOP),
    )
    assert ISSUE_10_HOP in warning.message


def test_a_hop_with_a_unit_under_a_zero_level_is_a_warning() -> None:
    trace = (
        "<TraceHeader><OrganId>000.05.00.G22</OrganId>"
        "<Timestamp>2024/01/02 08:30:00</Timestamp></TraceHeader>"
    )
    [(code, _, _)] = warnings_of(document(trace=trace))
    assert code == "bad_organ_code"


@pytest.mark.parametrize("code", [ISSUE_10_HOP, "000.05.00.G22", "H41"])
def test_the_same_code_in_from_or_to_is_refused(code: str) -> None:
    assert refusal(document(from_id=code)).code == "bad_organ_code"
    data = document(to_ids=[code])
    error = refusal(data)
    assert (error.code, error.line) == ("bad_organ_code", line_of(data, f">{code}<"))


def test_an_empty_hop_organ_id_is_a_warning() -> None:
    trace = "<TraceHeader><OrganId/><Timestamp>2024/01/02 08:30:00</Timestamp></TraceHeader>"
    assert [code for code, _, _ in warnings_of(document(trace=trace))] == ["bad_organ_code"]


def test_receiver_and_replacement_organ_ids_are_warnings() -> None:
    block = DEFAULT_BUSINESS.replace(
        ">0</BussinessDocType>",
        ">2</BussinessDocType>\n<BussinessDocumentInfo><DocumentInfo>0</DocumentInfo>"
        "<DocumentReceiver>1</DocumentReceiver><ReceiverList><Receiver>"
        "<OrganId>bad-receiver</OrganId><ReceiverType>0</ReceiverType></Receiver>"
        "</ReceiverList></BussinessDocumentInfo>\n<ReplacementInfoList><ReplacementInfo>"
        "<DocumentId>000.00.00.G22,2023/01/01,1/X</DocumentId>"
        "<OrganIdList><OrganId>bad-replaced</OrganId></OrganIdList>"
        "</ReplacementInfo></ReplacementInfoList>",
    )
    doc = accepted(document(business=block))
    assert isinstance(doc, DocumentEnvelope) and doc.business is not None
    assert doc.business.document_info is not None
    assert doc.business.document_info.receivers[0].organ_id == "bad-receiver"
    assert doc.business.replacements[0].organ_ids == ["bad-replaced"]
    assert [(w.code, w.element) for w in doc.warnings] == [("bad_organ_code", "OrganId")] * 2


def test_a_replacement_without_document_id_is_still_refused() -> None:
    block = DEFAULT_BUSINESS.replace(
        ">0</BussinessDocType>",
        ">3</BussinessDocType>\n<ReplacementInfoList><ReplacementInfo>"
        "<DocumentId> </DocumentId></ReplacementInfo></ReplacementInfoList>",
    )
    assert refusal(document(business=block)).code == "missing_document_id"


def test_a_documents_response_for_is_recorded_with_warnings() -> None:
    response = (
        "<ResponseFor>\n<OrganId>G22</OrganId>\n<Code>1/X</Code>\n"
        "<PromulgationDate>yesterday</PromulgationDate>\n"
        "<DocumentId>000.00.00.G22,2023/01/01,1/X</DocumentId>\n</ResponseFor>"
    )
    data = document(header_extra=response)
    doc = accepted(data)
    assert isinstance(doc, DocumentEnvelope)
    [answered] = doc.header.response_for
    assert (answered.organ_id, answered.promulgation_date) == ("G22", None)
    assert warnings_of(data) == [
        ("bad_organ_code", "OrganId", line_of(data, ">G22<")),
        ("bad_date", "PromulgationDate", line_of(data, ">yesterday<")),
    ]


@pytest.mark.parametrize(
    ("extra", "element"),
    [
        ("<SteeringType>urgent</SteeringType>", "SteeringType"),
        ("<OtherInfo><Priority>high</Priority></OtherInfo>", "Priority"),
        ("<OtherInfo><PageAmount>2.5</PageAmount></OtherInfo>", "PageAmount"),
        ("<OtherInfo><Direction>yes</Direction></OtherInfo>", "Direction"),
    ],
)
def test_recorded_numbers_are_warnings(extra: str, element: str) -> None:
    data = document(header_extra=extra)
    assert warnings_of(data) == [("bad_number", element, line_of(data, f"<{element}>"))]


def test_a_good_number_carries_no_warning() -> None:
    doc = accepted(document(header_extra="<OtherInfo><Priority>2</Priority></OtherInfo>"))
    assert isinstance(doc, DocumentEnvelope) and doc.header.other_info is not None
    assert doc.header.other_info.priority == 2 and doc.warnings == []


def test_business_doc_type_is_still_refused_when_not_a_number() -> None:
    block = DEFAULT_BUSINESS.replace(">0</BussinessDocType>", ">new</BussinessDocType>")
    error = refusal(document(business=block))
    assert (error.code, error.element) == ("schema_invalid", "BussinessDocType")


def test_a_status_response_for_date_is_a_warning_but_its_organ_code_refuses() -> None:
    data = status().replace(b"2024/01/02</PromulgationDate>", b"02-01-2024</PromulgationDate>")
    message = accepted(data)
    assert isinstance(message, StatusMessage)
    assert message.response_for.promulgation_date is None
    assert warnings_of(data) == [("bad_date", "PromulgationDate", line_of(data, "02-01-2024"))]
    assert refusal(status(response_organ=ISSUE_10_HOP)).code == "bad_organ_code"


def test_status_code_and_document_id_still_refuse() -> None:
    assert refusal(status(code="99")).code == "unknown_status_code"
    assert refusal(status(document_id=" ")).code == "missing_document_id"
    assert refusal(document(document_id=" ")).code == "missing_document_id"
