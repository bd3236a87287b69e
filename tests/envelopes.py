"""edXML envelopes for tests, made from the real agency samples with chosen values."""

from __future__ import annotations

import base64
import random
from pathlib import Path

from lxml import etree

SAMPLES = Path(__file__).parent / "edxml" / "samples"
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

AUDIT_TRAIL = [
    "document.received",
    "document.verified",
    "document.accepted",
    "delivery.queued",
    "delivery.attempted",
    "delivery.delivered",
    "delivery.acked",
]
"""The event types of one document's audit timeline, in order, from receipt to its one
recipient's acknowledgement: the API tests and the end-to-end tests expect the same trail."""


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _set_organ_id(element: etree._Element, value: str) -> None:
    organ_id = element.find(_q("OrganId"))
    assert organ_id is not None
    organ_id.text = value


def document(sender: str, recipients: list[str], document_id: str, subject: str = "") -> bytes:
    """A document from `sender` to `recipients` (unsigned), on the 3-recipient sample."""
    root = etree.parse(str(SAMPLES / "lgsp_edoc_3_recipients.edxml")).getroot()
    header = root.find(f".//{_q('MessageHeader')}")
    assert header is not None
    _set_organ_id(header.find(_q("From")), sender)  # type: ignore[arg-type]
    template = header.findall(_q("To"))
    for extra in template[1:]:
        header.remove(extra)
    first = template[0]
    for code in reversed(recipients):
        to = etree.fromstring(etree.tostring(first))
        _set_organ_id(to, code)
        first.addnext(to)
    header.remove(first)
    header.find(_q("DocumentId")).text = document_id  # type: ignore[union-attr]
    if subject:
        header.find(_q("Subject")).text = subject  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def status(sender: str, document_sender: str, document_id: str, code: str) -> bytes:
    """A status message `code` from `sender` about `document_sender`'s `document_id`."""
    root = etree.parse(str(SAMPLES / "bkav_status_processing_05.edxml")).getroot()
    header = root.find(f".//{_q('MessageHeader')}")
    assert header is not None
    _set_organ_id(header.find(_q("From")), sender)  # type: ignore[arg-type]
    response_for = header.find(_q("ResponseFor"))
    assert response_for is not None
    _set_organ_id(response_for, document_sender)
    response_for.find(_q("DocumentId")).text = document_id  # type: ignore[union-attr]
    header.find(_q("StatusCode")).text = code  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_attachment(envelope: bytes, size: int, seed: int = 0) -> bytes:
    """`envelope` (one of the above, unsigned) whose one attachment is `size` random bytes,
    base64 in 76-character lines as agency software writes it."""
    encoded = base64.encodebytes(random.Random(seed).randbytes(size))
    start = envelope.index(b">", envelope.index(b"<edXML:ContentTransferEncoded")) + 1
    end = envelope.index(b"</edXML:ContentTransferEncoded>")
    return envelope[:start] + encoded + envelope[end:]
