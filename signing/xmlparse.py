"""lxml, typed loosely, and the one hardened parser configuration the package uses.

lxml ships no type information; importing it in this one place keeps the rest of the
package strictly typed whether or not stubs are installed later.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any

from lxml import etree as _etree  # type: ignore[import-untyped, unused-ignore]

from signing.errors import ErrorCode, SignatureError

etree: Any = _etree
Element = Any
"""An lxml element (`lxml.etree._Element`)."""

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

_local = threading.local()


def parser() -> Any:
    """This thread's parser: no entities, no network, no DTD loading; comments and processing
    instructions kept (c14n decides what they mean). `huge_tree` because one attachment's
    base64 text may pass libxml2's 10 MB node limit; request size is bounded upstream."""
    current = getattr(_local, "parser", None)
    if current is None:
        current = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,
            remove_blank_text=False,
            collect_ids=True,  # False makes libxml2 read an external DTD despite load_dtd
        )
        _local.parser = current
    return current


def parse(data: bytes | Path | IO[bytes]) -> Element:
    """The document element of `data` (bytes, or a file or its path, read as libxml2 goes:
    no copy of the bytes in memory); SignatureError("malformed") for anything that is not
    plain well-formed XML (DTDs and entities included)."""
    try:
        if isinstance(data, bytes | bytearray | memoryview):
            root = etree.fromstring(bytes(data), parser=parser())
        elif isinstance(data, Path) or hasattr(data, "read"):
            root = etree.parse(data if hasattr(data, "read") else str(data), parser()).getroot()
        else:
            raise SignatureError(ErrorCode.MALFORMED, "expected the document as bytes")
    except etree.XMLSyntaxError as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"not well-formed XML: {exc}") from exc
    except (ValueError, etree.LxmlError) as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"cannot parse XML: {exc}") from exc
    if root is None:
        raise SignatureError(ErrorCode.MALFORMED, "empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise SignatureError(ErrorCode.MALFORMED, "DTDs are not allowed")
    for _ in root.iter(etree.Entity):
        raise SignatureError(ErrorCode.MALFORMED, "entity references are not allowed")
    return root


def qname(namespace: str, local: str) -> str:
    """Clark notation `{namespace}local`, how lxml names elements."""
    return f"{{{namespace}}}{local}"
