"""Measure and hash a base64 attachment without holding its decoded bytes.

Why streaming: an attachment may be tens of megabytes; decoding it in 1 MiB slices keeps
memory flat, and the size limit stops the work as soon as it is passed.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from schemas.edxml.errors import EnvelopeError

DECODE_SLICE = 1024 * 1024
_DROP_WHITESPACE = str.maketrans("", "", " \t\r\n")


@dataclass(frozen=True, slots=True)
class Digest:
    size: int
    sha256: str


def digest_base64(text: str, element: Any, *, max_bytes: int) -> Digest:
    """Decoded size and SHA-256 of base64 `text` (line breaks allowed), strictly checked.

    Raises bad_base64 for any character outside the alphabet, wrong padding or data after
    padding, and attachment_too_large once the decoded size passes `max_bytes`.
    """
    digest = hashlib.sha256()
    size = 0
    carry = ""
    padded = False
    for start in range(0, len(text), DECODE_SLICE):
        piece = carry + text[start : start + DECODE_SLICE].translate(_DROP_WHITESPACE)
        usable = len(piece) - len(piece) % 4
        carry = piece[usable:]
        if not usable:
            continue
        if padded:
            raise EnvelopeError.at(element, "bad_base64", "base64 data continues after its padding")
        try:
            decoded = binascii.a2b_base64(piece[:usable], strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeError.at(
                element, "bad_base64", f"the content is not base64: {exc}"
            ) from None
        padded = piece[usable - 1] == "="
        size += len(decoded)
        if size > max_bytes:
            raise EnvelopeError.at(
                element,
                "attachment_too_large",
                f"the attachment decodes to more than {max_bytes} bytes",
            )
        digest.update(decoded)
    if carry:
        raise EnvelopeError.at(
            element, "bad_base64", "the base64 length is not a multiple of 4 (truncated?)"
        )
    return Digest(size=size, sha256=digest.hexdigest())
