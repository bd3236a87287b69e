"""Bounded parsing: size, encoding, DTDs, depth, element and attribute counts.

Each hostile input must be refused with its own code, quickly, and before it can cost
memory; the markup scan and the pull parser are also tested one without the other.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from edxml_template import NS, attachment, document, line_of
from lxml import etree

from axis.config import Settings
from schemas.edxml import DocumentEnvelope, EnvelopeError, EnvelopeLimits, parse_envelope, safe_xml
from schemas.edxml.safe_xml import check_tree, parse_xml

LIMITS = EnvelopeLimits()
SMALL = EnvelopeLimits(max_depth=16, max_elements=200, max_attributes=4)


def refused(data: bytes, limits: EnvelopeLimits = LIMITS) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data, limits)
    return caught.value


@pytest.fixture(params=["scan", "pull-parser"])
def only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the raw markup scan, then with only libxml2's pull parser counting."""
    if request.param == "pull-parser":
        monkeypatch.setattr(safe_xml, "scan_markup", lambda data, limits: None)
    yield str(request.param)


def test_settings_give_the_limits() -> None:
    settings = Settings(
        max_body_bytes=2048,
        xml_max_depth=9,
        xml_max_elements=101,
        xml_max_attributes=3,
        max_attachments=4,
        max_attachment_bytes=5,
    )
    assert settings.envelope_limits == EnvelopeLimits(
        max_body_bytes=2048,
        max_depth=9,
        max_elements=101,
        max_attributes=3,
        max_attachments=4,
        max_attachment_bytes=5,
    )
    assert Settings().envelope_limits == EnvelopeLimits()


def test_limits_are_frozen_and_checked() -> None:
    with pytest.raises(AttributeError):
        LIMITS.max_depth = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        EnvelopeLimits(max_depth=0)
    with pytest.raises(ValueError):
        EnvelopeLimits(max_attachments=-1)


def test_body_over_the_limit_is_refused_before_parsing() -> None:
    data = b"<" * 5000  # would not even be XML
    error = refused(data, EnvelopeLimits(max_body_bytes=4999))
    assert error.code == "too_large"
    assert parse_xml(document(), EnvelopeLimits(max_body_bytes=len(document()))) is not None


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE edXML [<!ENTITY a "x">]>',
        # billion laughs
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;'
        '&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'
        '&lol1;&lol1;&lol1;&lol1;">]>',
        # quadratic blow-up
        '<!DOCTYPE edXML [<!ENTITY big "' + "x" * 50_000 + '">]>',
        # external entity
        '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        # parameter entity and external DTD
        '<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]>',
        '<!DOCTYPE edXML SYSTEM "http://example.invalid/edxml.dtd">',
        "<!DOCTYPE edXML>",
    ],
)
def test_any_doctype_is_refused(doctype: str) -> None:
    body = document().replace(b"<edXML ", doctype.encode() + b"\n<edXML ", 1)
    body = body.replace(b"<Subject>Test document", b"<Subject>&lol2;&big;&xxe;", 1)
    started = time.perf_counter()
    error = refused(body)
    assert time.perf_counter() - started < 0.5
    assert error.code == "dtd_forbidden"
    assert error.line == 2


def test_doctype_is_refused_even_where_the_scan_would_miss_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Second line: libxml2 parses the internal subset without expanding anything."""
    monkeypatch.setattr(safe_xml, "scan_markup", lambda data, limits: None)
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    body = f"<!DOCTYPE r [{laughs}]>\n<r>&l9;</r>".encode()
    started = time.perf_counter()
    with pytest.raises(EnvelopeError) as caught:
        parse_xml(body, LIMITS)
    assert time.perf_counter() - started < 0.5
    assert caught.value.code == "dtd_forbidden"


def test_entity_declaration_outside_a_doctype_is_refused() -> None:
    body = document().replace(b"<edXMLEnvelope>", b'<!ENTITY a "x">\n<edXMLEnvelope>', 1)
    assert refused(body).code == "dtd_forbidden"


def test_undeclared_entity_reference_is_not_well_formed() -> None:
    body = document(subject="&xxe;")
    error = refused(body)
    assert error.code == "not_well_formed"
    assert error.line == line_of(body, "&xxe;")


def test_ten_thousand_deep_nesting_is_refused_fast(only: str) -> None:
    body = b'<edXML xmlns="' + NS.encode() + b'">' + b"<a>" * 10_000 + b"</a>" * 10_000
    body += b"</edXML>"
    started = time.perf_counter()
    error = refused(body)
    assert time.perf_counter() - started < 0.5
    assert error.code == "too_deep"
    assert error.line == 1
    if only == "scan":
        assert error.element == "a"


def test_deep_nesting_is_reported_at_its_line(only: str) -> None:
    body = b"<r>\n" + b"<a>\n" * 20 + b"</a>\n" * 20 + b"</r>"
    error = refused(body, SMALL)
    assert error.code == "too_deep"
    assert error.line == 17  # <r> is level 1, the 16th <a> level 17: line 17


def test_depth_at_the_limit_is_accepted() -> None:
    body = b"<r>" + b"<a>" * 15 + b"</a>" * 15 + b"</r>"
    assert parse_xml(body, SMALL).tag == "r"


def test_too_many_elements(only: str) -> None:
    body = b"<r>\n" + b"<a/>\n" * 300 + b"</r>"
    error = refused(body, SMALL)
    assert error.code == "too_many_elements"
    assert error.line == 201


def test_too_many_comments_or_processing_instructions() -> None:
    body = b"<r>" + b"<!---->" * 300 + b"<?pi x?>" * 300 + b"</r>"
    assert refused(body, SMALL).code == "too_many_elements"


def test_too_many_attributes(only: str) -> None:
    attributes = " ".join(f'a{i}="{i}"' for i in range(5))
    body = f"<r>\n<x {attributes}/>\n</r>".encode()
    error = refused(body, SMALL)
    assert error.code == "too_many_attributes"
    assert (error.line, error.element) == (2, "x")
    fine = " ".join(f'a{i}="{i}"' for i in range(4))
    assert parse_xml(f"<r><x {fine}/></r>".encode(), SMALL) is not None


def test_attribute_values_holding_markup_characters_are_counted_right() -> None:
    attributes = " ".join(f"a{i}='>/>{i}' b{i}=\">'\"" for i in range(3))
    error = refused(f"<r><x {attributes}/></r>".encode(), SMALL)
    assert error.code == "too_many_attributes"


def test_a_start_tag_with_half_a_million_attributes_is_refused_without_building_it() -> None:
    attributes = b" ".join(b'a%d=""' % i for i in range(500_000))
    body = b"<r><x " + attributes + b"/></r>"
    started = time.perf_counter()
    error = refused(body)
    assert time.perf_counter() - started < 1.0
    assert error.code == "too_many_attributes"


def test_invalid_utf8_is_refused_with_its_line() -> None:
    body = document(subject="SUBJECT").replace(b"SUBJECT", b"bad \xc3\x28 byte")
    error = refused(body)
    assert error.code == "invalid_encoding"
    assert error.line == line_of(body, "bad ")


def test_invalid_utf8_across_a_slice_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_xml, "_UTF8_SLICE", 7)
    valid = "<r>Tây Ninh — Nghệ An</r>".encode()
    assert parse_xml(valid, LIMITS).text == "Tây Ninh — Nghệ An"
    assert refused(b"<r>\xe1\xba</r>").code == "invalid_encoding"


@pytest.mark.parametrize(
    "body",
    [
        "<r/>".encode("utf-16"),
        b"\xfe\xff\x00<\x00r\x00/\x00>",
        b'<?xml version="1.0" encoding="ISO-8859-1"?><r>\xe9</r>',
        b'<?xml version="1.0" encoding="windows-1258"?><r/>',
    ],
)
def test_encodings_other_than_utf8_are_refused(body: bytes) -> None:
    assert refused(body).code == "invalid_encoding"


def test_utf8_bom_and_declaration_are_accepted() -> None:
    assert isinstance(parse_envelope(b"\xef\xbb\xbf" + document(), LIMITS), DocumentEnvelope)
    lower = document().replace(b'encoding="UTF-8"', b"encoding='utf-8'")
    assert isinstance(parse_envelope(lower, LIMITS), DocumentEnvelope)


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"not xml", b"<r>", b"<r></s>", b"<r/><r/>", b"<!-- only a comment -->"],
)
def test_not_well_formed(body: bytes) -> None:
    assert refused(body).code == "not_well_formed"


def test_xinclude_is_not_processed() -> None:
    include = '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>'
    body = document(header_extra=include)
    error = refused(body)
    assert error.code == "schema_invalid"
    assert error.element == "include"
    assert "XInclude" in error.message
    tree = parse_xml(body, LIMITS)
    assert b"root:" not in etree.tostring(tree)


def test_a_text_node_over_libxml2s_ten_megabytes_is_accepted() -> None:
    """huge_tree is on for the default 64 MiB body: an 11 MB attachment must get through."""
    payload = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB decoded, ~11.2 MB of base64
    encoded = base64.b64encode(payload).decode()
    doc = parse_envelope(document(attachments=[attachment(content=encoded)]), LIMITS)
    assert isinstance(doc, DocumentEnvelope)
    assert doc.attachments[0].size == len(payload)


def test_check_tree_bounds_a_tree_built_elsewhere() -> None:
    root = etree.Element("r")
    node = root
    for _ in range(20):
        node = etree.SubElement(node, "a")
    with pytest.raises(EnvelopeError) as caught:
        check_tree(root, SMALL)
    assert caught.value.code == "too_deep"
    assert caught.value.line is None
    wide = etree.Element("r", {f"a{i}": "" for i in range(9)})
    with pytest.raises(EnvelopeError) as caught:
        check_tree(wide, SMALL)
    assert caught.value.code == "too_many_attributes"
    many = etree.Element("r")
    for _ in range(300):
        etree.SubElement(many, "a")
    with pytest.raises(EnvelopeError) as caught:
        check_tree(many, SMALL)
    assert caught.value.code == "too_many_elements"
