"""The public entry points: bytes to a checked envelope model, or a tree to one.

Why two functions: the API path parses received bytes (`parse_envelope`), but once a
signature has been verified the models must be built only from what was signed, so
`envelope_from_tree` takes the tree the verifier hands back and runs every check on it
again (bounds, schema, rules) without trusting anything outside it.

    raw bytes --safe_xml.parse_xml--> tree --envelope_from_tree--> DocumentEnvelope
                                                                 | StatusMessage
    envelope_from_tree = safe_xml.check_tree + validate (XSD) + extract (rules, models)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.edxml.errors import EnvelopeError
from schemas.edxml.extract import document_from_tree, status_from_tree
from schemas.edxml.limits import EnvelopeLimits
from schemas.edxml.models import DocumentEnvelope, StatusMessage
from schemas.edxml.safe_xml import check_tree, parse_xml
from schemas.edxml.validate import message_kind, validate


def parse_envelope(
    data: bytes | Path, limits: EnvelopeLimits, *, legacy_organ_codes: bool = True
) -> DocumentEnvelope | StatusMessage:
    """Parse, validate and model one received edXML envelope (its bytes, or the file
    holding them: then the bytes and the tree are never in memory together).

    Raises EnvelopeError (and nothing else) for any rejected input. With
    `legacy_organ_codes` the older 3-part organisation codes (28.22.H17) are accepted too.
    """
    root = parse_xml(data, limits)
    return envelope_from_tree(root, limits, legacy_organ_codes=legacy_organ_codes)


def envelope_from_tree(
    root: Any, limits: EnvelopeLimits, *, legacy_organ_codes: bool = True
) -> DocumentEnvelope | StatusMessage:
    """Validate and model an already parsed tree (an lxml element or element tree).

    Use this after signature verification with the signed tree the verifier returned, so
    that nothing unsigned reaches the models. The tree is bounded again by `limits`,
    validated against the document or status XSD (picked by content: a MessageHeader
    holding StatusCode/Status is a status), then checked by the business rules.
    A verifier's signed tree usually lacks the enveloped Signature itself, so `signature`
    is then None; lines are None where the tree has no source lines.
    """
    if hasattr(root, "getroot"):
        root = root.getroot()
    if not isinstance(getattr(root, "tag", None), str):
        raise EnvelopeError("not_well_formed", "no XML element was given")
    check_tree(root, limits)
    kind = message_kind(root)
    validate(root, kind)
    if kind == "status":
        return status_from_tree(root, legacy=legacy_organ_codes)
    return document_from_tree(root, limits, legacy=legacy_organ_codes)
