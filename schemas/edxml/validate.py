"""Which schema an envelope answers to, and XSD validation with readable errors.

Why a lock: a compiled lxml schema keeps its error log on the object, so two threads
validating at once could read each other's errors. Validation takes milliseconds.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal

from schemas.edxml.errors import EnvelopeError
from schemas.edxml.names import EDXML_NS, STATUS_CODE_NAMES, XMLDSIG_NS, is_edxml, local_name, q
from schemas.loader import document_schema, status_schema

MessageKind = Literal["document", "status"]

_LOCKS: dict[MessageKind, threading.Lock] = {
    "document": threading.Lock(),
    "status": threading.Lock(),
}
_ELEMENT_IN_MESSAGE = re.compile(r"^Element '([^']*)'")


def message_kind(root: Any) -> MessageKind:
    """A MessageHeader holding StatusCode (or Status) is a status; anything else a document.

    Raises schema_invalid when the root is not edXML in the edXML namespace: a schema would
    otherwise accept any of its global elements as a root.
    """
    if not is_edxml(root, "edXML"):
        raise EnvelopeError(
            "schema_invalid",
            f"the root element must be edXML in the namespace {EDXML_NS}, "
            f"not {_clean(str(root.tag))!r}",
            line=root.sourceline,
            element=local_name(root),
        )
    header = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}")
    if header is not None and any(is_edxml(child, *STATUS_CODE_NAMES) for child in header):
        return "status"
    return "document"


def validate(root: Any, kind: MessageKind) -> None:
    """Validate against the document or status XSD; raise schema_invalid on the first error."""
    schema = document_schema() if kind == "document" else status_schema()
    with _LOCKS[kind]:
        if schema.validate(root):
            return
        errors = list(schema.error_log)
    first = errors[0]
    message = _clean(first.message)
    more = len(errors) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    found = _ELEMENT_IN_MESSAGE.match(first.message)
    element = _local(found.group(1)) if found else None
    raise EnvelopeError(
        "schema_invalid",
        f"the {kind} does not match the edXML schema: {message}",
        line=first.line or None,
        element=element,
    )


def _local(name: str) -> str:
    """The local part of a Clark name ({uri}local) or a prefixed name (p:local)."""
    return name.rpartition("}")[2] if name.startswith("{") else name.rpartition(":")[2]


def _clean(message: str) -> str:
    """Drop the edXML namespace from Clark names and show xmldsig as ds:."""
    return message.replace("{" + EDXML_NS + "}", "").replace("{" + XMLDSIG_NS + "}", "ds:")
