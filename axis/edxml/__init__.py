"""edXML (QCVN 102:2016) envelopes: bounded parsing, XSD validation, rules and typed models.

Public API: `parse_envelope`, `envelope_from_tree`, `EnvelopeLimits`, `EnvelopeError`
(with its `code`), and the models `DocumentEnvelope` and `StatusMessage`.
"""

from axis.edxml.errors import ERROR_CODES, EnvelopeError, ErrorCode
from axis.edxml.limits import EnvelopeLimits
from axis.edxml.models import (
    BusinessDocType,
    DocumentEnvelope,
    SignatureForm,
    StatusCode,
    StatusMessage,
)
from axis.edxml.parser import envelope_from_tree, parse_envelope

__all__ = [
    "ERROR_CODES",
    "BusinessDocType",
    "DocumentEnvelope",
    "EnvelopeError",
    "EnvelopeLimits",
    "ErrorCode",
    "SignatureForm",
    "StatusCode",
    "StatusMessage",
    "envelope_from_tree",
    "parse_envelope",
]
