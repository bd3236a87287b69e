"""The push wire format, defined once: the axis's push adapter builds requests with it and
an agency's receiver (`adapters.receiver`) reads them with it.

Why one module: two hand-written copies of a multipart format drift apart silently. This
module depends on the standard library only and imports nothing from `axis` or `adapters`,
so both sides import it without pulling in the other.

One push is `POST <agency endpoint>` with

    Content-Type: multipart/related; type="application/xml"; start="<envelope>";
                  boundary="<boundary>"
    X-Axis-Delivery-Id: <delivery id>          (stable across attempts: drop repeats by it)
    X-Axis-Document-Id: <the axis's document id>
    X-Axis-Attempt: <1, 2, ...>
    X-Axis-Timestamp: <when this attempt was made: Unix time, decimal seconds>
    X-Axis-Signature: v1=<lowercase hex HMAC-SHA256 of the string to sign, agency's secret>

and a body of exactly two parts, each `Content-Type: application/xml`: the envelope bytes
as the sender signed them (`Content-ID: <envelope>`), then the axis's signed transit record
(`Content-ID: <evidence>`). Lines are CRLF; part bodies are raw bytes (no transfer
encoding); the boundary is new on every attempt.

The string to sign (version `v1`) is five lines joined by a line feed (no final one):

    v1
    <X-Axis-Delivery-Id>
    <X-Axis-Document-Id>
    <X-Axis-Timestamp>
    <lowercase hex SHA-256 of the raw body>

so a captured request cannot be replayed under another delivery or document id, nor, once
`MAX_CLOCK_SKEW_SECONDS` (5 minutes) have passed, at all: a receiver refuses a timestamp
further than that from its clock, either way. A second, different pair of parts under a
delivery id the receiver has already stored is refused too; the same parts again (a retry,
or a replay inside the five minutes) are an idempotent repeat. `X-Axis-Attempt` is not
signed: it is for logs only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

CONTENT_TYPE = "multipart/related"
PART_TYPE = "application/xml"
ENVELOPE_ID = "<envelope>"
EVIDENCE_ID = "<evidence>"

DELIVERY_ID_HEADER = "X-Axis-Delivery-Id"
DOCUMENT_ID_HEADER = "X-Axis-Document-Id"
ATTEMPT_HEADER = "X-Axis-Attempt"
TIMESTAMP_HEADER = "X-Axis-Timestamp"
SIGNATURE_HEADER = "X-Axis-Signature"
SIGNATURE_VERSION = "v1"
MAX_CLOCK_SKEW_SECONDS = 300
"""How far a push's timestamp may be from the receiver's clock, either way."""

DELIVERY_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")
"""What a delivery id may look like (the axis uses UUIDs): receivers name files after it."""
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_CRLF = b"\r\n"


class PushRefused(ValueError):
    """A push request a receiver must refuse, with the HTTP status and title to answer."""

    status = 400
    title = "Bad push request"


class PushFormatError(PushRefused):
    """A push that does not follow the format: a bad header or body (400)."""


class PushSignatureError(PushRefused):
    """A push the axis did not sign with this secret, or one signed for something else (401)."""

    status = 401
    title = "Bad signature"


class PushTimestampError(PushRefused):
    """A push signed too long ago or too far ahead: a replay, or a clock to fix (401)."""

    status = 401
    title = "Timestamp out of range"


@dataclass(frozen=True)
class PushParts:
    """The two parts of one push body."""

    envelope: bytes
    evidence: bytes


@dataclass(frozen=True)
class PushRequest:
    """One push whose signature, timestamp, headers and body have been checked."""

    delivery_id: str
    document_id: str
    timestamp: int
    attempt: int | None
    parts: PushParts


def _secret(secret: bytes | str) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the push secret is empty")
    return key


def string_to_sign(delivery_id: str, document_id: str, timestamp: int, body: bytes) -> bytes:
    """What `X-Axis-Signature` is the HMAC of (version v1; see the module docstring)."""
    lines = [SIGNATURE_VERSION, delivery_id, document_id, str(timestamp)]
    lines.append(hashlib.sha256(body).hexdigest())
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def request_signature(
    secret: bytes | str, delivery_id: str, document_id: str, timestamp: int, body: bytes
) -> str:
    """The `X-Axis-Signature` value of one push: `v1=` and the hex HMAC-SHA256."""
    message = string_to_sign(delivery_id, document_id, timestamp, body)
    return f"{SIGNATURE_VERSION}=" + hmac.new(_secret(secret), message, hashlib.sha256).hexdigest()


def _part(content_id: str, data: bytes) -> bytes:
    return f"Content-Type: {PART_TYPE}\r\nContent-ID: {content_id}\r\n\r\n".encode("ascii") + data


def build_push_request(
    envelope: bytes,
    evidence: bytes,
    delivery_id: str,
    document_id: str,
    attempt: int,
    secret: bytes | str,
    *,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one push attempt (send them as they are, body unchanged),
    signed at `timestamp` (Unix seconds; by default now)."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise ValueError(f"a delivery id is letters, digits, '-' and '_': {delivery_id!r}")
    if not document_id or any(ord(c) < 0x21 or ord(c) > 0x7E for c in document_id):
        raise ValueError(f"the document id must be non-empty printable ASCII: {document_id!r}")
    while True:  # a random boundary that occurs in neither part (a clash is ~impossible)
        boundary = "axis-push-" + secrets.token_hex(16)
        marker = b"--" + boundary.encode("ascii")
        if marker not in envelope and marker not in evidence:
            break
    body = b"".join(
        [
            marker + _CRLF,
            _part(ENVELOPE_ID, envelope),
            _CRLF + marker + _CRLF,
            _part(EVIDENCE_ID, evidence),
            _CRLF + marker + b"--" + _CRLF,
        ]
    )
    signed_at = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": (
            f'{CONTENT_TYPE}; type="{PART_TYPE}"; start="{ENVELOPE_ID}"; boundary="{boundary}"'
        ),
        DELIVERY_ID_HEADER: delivery_id,
        DOCUMENT_ID_HEADER: document_id,
        ATTEMPT_HEADER: str(attempt),
        TIMESTAMP_HEADER: str(signed_at),
        SIGNATURE_HEADER: request_signature(secret, delivery_id, document_id, signed_at, body),
    }
    return headers, body


def _parameters(content_type: str) -> tuple[str, dict[str, str]]:
    """The media type and its parameters (quoted values unquoted, names lower-cased)."""
    media_type, _, rest = content_type.partition(";")
    parameters: dict[str, str] = {}
    for match in re.finditer(
        r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', rest
    ):
        name, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        parameters[name] = value
    return media_type.strip().lower(), parameters


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(_CRLF):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise PushFormatError(f"a part header line has no colon: {line[:60]!r}")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


def parse_push_body(content_type: str, body: bytes) -> PushParts:
    """The envelope and the evidence of a push body; PushFormatError when it is not one.

    Parts with other Content-IDs are skipped (room for the format to grow); each of the
    two known parts must appear exactly once.
    """
    media_type, parameters = _parameters(content_type)
    if media_type != CONTENT_TYPE:
        raise PushFormatError(f"the body is {media_type or 'untyped'}, expected {CONTENT_TYPE}")
    boundary = parameters.get("boundary", "")
    if not _BOUNDARY.fullmatch(boundary):
        raise PushFormatError("the Content-Type has no usable boundary")
    marker = b"--" + boundary.encode("ascii")
    if body.startswith(marker):
        position = len(marker)
    else:  # a preamble is allowed before the first delimiter line
        found = body.find(_CRLF + marker)
        if found < 0:
            raise PushFormatError("the body holds no part")
        position = found + 2 + len(marker)
    found_parts: dict[str, bytes] = {}
    while True:
        if body.startswith(b"--", position):
            break  # the closing delimiter; anything after it is an epilogue
        line_end = body.find(_CRLF, position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise PushFormatError("a delimiter line is malformed")
        start = line_end + 2
        end = body.find(_CRLF + marker, start)
        if end < 0:
            raise PushFormatError("the body ends inside a part (no closing delimiter)")
        part = body[start:end]
        if part.startswith(_CRLF):
            head, content = b"", part[2:]
        else:
            head, separator, content = part.partition(_CRLF + _CRLF)
            if not separator:
                raise PushFormatError("a part has no blank line after its headers")
        content_id = _headers(head).get("content-id", "")
        if content_id in (ENVELOPE_ID, EVIDENCE_ID):
            if content_id in found_parts:
                raise PushFormatError(f"the part {content_id} appears twice")
            found_parts[content_id] = content
        position = end + 2 + len(marker)
    missing = [name for name in (ENVELOPE_ID, EVIDENCE_ID) if name not in found_parts]
    if missing:
        raise PushFormatError(f"the body has no part {' or '.join(missing)}")
    return PushParts(envelope=found_parts[ENVELOPE_ID], evidence=found_parts[EVIDENCE_ID])


def verify_push_request(
    headers: Mapping[str, str], body: bytes, secret: bytes | str, *, now: float | None = None
) -> PushRequest:
    """The push in `headers` (names in any case) and `body`, once its signature,
    timestamp and format hold; PushRefused otherwise.

    The signature is checked first (in constant time), so nothing an unsigned request
    carries is looked at further.
    """
    headers = {name.lower(): value for name, value in headers.items()}
    delivery_id = headers.get(DELIVERY_ID_HEADER.lower(), "")
    document_id = headers.get(DOCUMENT_ID_HEADER.lower(), "")
    timestamp_text = headers.get(TIMESTAMP_HEADER.lower(), "")
    signature = headers.get(SIGNATURE_HEADER.lower())
    if signature is None:
        raise PushSignatureError(f"no {SIGNATURE_HEADER} header")
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise PushSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds: {timestamp_text!r:.40}")
    timestamp = int(timestamp_text)
    expected = request_signature(secret, delivery_id, document_id, timestamp, body)
    given = signature.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise PushSignatureError(
            f"{SIGNATURE_HEADER} does not match this delivery id, document id, timestamp and body"
        )
    skew = timestamp - (time.time() if now is None else now)
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        raise PushTimestampError(
            f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            f"this receiver's clock (at most {MAX_CLOCK_SKEW_SECONDS} s)"
        )
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise PushFormatError(f"{DELIVERY_ID_HEADER}: {delivery_id!r:.140}")
    attempt_text = headers.get(ATTEMPT_HEADER.lower(), "")
    return PushRequest(
        delivery_id=delivery_id,
        document_id=document_id,
        timestamp=timestamp,
        attempt=int(attempt_text) if attempt_text.isdigit() else None,
        parts=parse_push_body(headers.get("content-type", ""), body),
    )
