"""Namespace URIs and element names of edXML, in Clark notation.

Why: the envelope is read by namespace URI, never by prefix; one place spells the URIs.
"""

from __future__ import annotations

from typing import Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"

BUSINESS_NAMES = ("Bussiness", "Business")
"""The business block: real files spell it "Bussiness"; some software writes "Business"."""
STATUS_CODE_NAMES = ("StatusCode", "Status")


def q(local: str) -> str:
    """The Clark name {edXML namespace}local."""
    return f"{{{EDXML_NS}}}{local}"


def local_name(element: Any) -> str:
    """The local name of an element (comments and PIs have none: '')."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return str(etree.QName(tag).localname)


def is_edxml(element: Any, *names: str) -> bool:
    """Whether the element is in the edXML namespace and has one of `names`."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith("{" + EDXML_NS + "}"):
        return False
    return tag[len(EDXML_NS) + 2 :] in names
