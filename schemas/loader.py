"""Compiled edXML schemas, loaded from `XSD_DIR` once per process.

Why a cache: compiling an XSD costs milliseconds and the compiled schema never changes, so
every envelope shares one. Why `as_file`: the document and status schemas include
`edxml-common.xsd` by a relative path, which needs a real directory, also from a wheel.
Nothing here touches the network: the parser refuses it and no schema imports anything.
"""

from __future__ import annotations

import functools
from importlib.resources import as_file

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from schemas import XSD_DIR

DOCUMENT_XSD = "edxml-document.xsd"
STATUS_XSD = "edxml-status.xsd"
COMMON_XSD = "edxml-common.xsd"


def _compile(name: str) -> etree.XMLSchema:
    """Parse and compile one schema file from XSD_DIR, offline."""
    parser = etree.XMLParser(
        no_network=True, resolve_entities=False, load_dtd=False, remove_comments=True
    )
    with as_file(XSD_DIR) as directory:
        document = etree.parse(str(directory / name), parser)
        return etree.XMLSchema(document)


@functools.cache
def document_schema() -> etree.XMLSchema:
    """The schema of an edXML document envelope (compiled on first use)."""
    return _compile(DOCUMENT_XSD)


@functools.cache
def status_schema() -> etree.XMLSchema:
    """The schema of an edXML status message (compiled on first use)."""
    return _compile(STATUS_XSD)
