"""edXML (QCVN 102:2016) envelopes: bounded parsing, XSD validation, rules and typed models.

Public API: `parse_envelope`, `envelope_from_tree`, `parse_xml` (the bounded parse alone,
for a caller that also hands the tree to the signature verifier), `EnvelopeLimits`,
`EnvelopeError` (with its `code`), and the models `DocumentEnvelope` and `StatusMessage`.
"""

from schemas.edxml.errors import ERROR_CODES, EnvelopeError, ErrorCode
from schemas.edxml.limits import EnvelopeLimits
from schemas.edxml.models import (
    BusinessDocType,
    DocumentEnvelope,
    Party,
    SignatureForm,
    StatusCode,
    StatusMessage,
)
from schemas.edxml.parser import envelope_from_tree, parse_envelope
from schemas.edxml.safe_xml import parse_xml

__all__ = [
    "ERROR_CODES",
    "BusinessDocType",
    "DocumentEnvelope",
    "EnvelopeError",
    "EnvelopeLimits",
    "ErrorCode",
    "Party",
    "SignatureForm",
    "StatusCode",
    "StatusMessage",
    "envelope_from_tree",
    "parse_envelope",
    "parse_xml",
]
