"""RFC 3161 timestamps of signed checkpoints, where a time-stamp authority is configured.

Why: a checkpoint's own `time` line is the axis's word; a TSA's token is a third party's
word that the signed checkpoint existed by then, so an auditor can bound when the axis
signed it without trusting the axis's clock. Stamp the whole signed note
(`note.encode("utf-8")`), so the token covers the axis's signature too.

`rfc3161-client` builds the request (SHA-256 imprint, a random nonce, certificate
requested) and verifies responses offline: the CMS signature, the signer's chain to the
given roots at the time the token asserts, the critical timeStamping extended key usage, the
nonce and the imprint. What we store is the TSA's TimeStampResp DER, byte for byte.

Two things the library does not do and we do here, in memory only:

- It parses a TimeStampResp, not a bare TimeStampToken (a CMS ContentInfo, what some
  systems keep); `verify_timestamp` wraps a bare token in a granted TimeStampResp.
- It parses DER strictly and refuses a SignedData whose `certificates` SET OF is not in DER
  order, which OpenSSL (`openssl ts -reply` with a chain) and other TSAs write in chain
  order. The set is outside what the TSA signs, so we sort it before parsing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from signing.certificates import as_utc
from signing.errors import ErrorCode, SignatureError

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 256 * 1024
"""A reply with a long chain is a few kilobytes; this bounds what a broken TSA can send."""
DEFAULT_TIMEOUT = 30.0
SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


async def request_timestamp(
    tsa_url: str,
    data: bytes,
    *,
    client: httpx.AsyncClient | None = None,
    roots: Sequence[x509.Certificate] = (),
    intermediates: Sequence[x509.Certificate] = (),
) -> bytes:
    """Ask the TSA at `tsa_url` to stamp `data`; the DER TimeStampResp it sent. Without
    `client`, a client of our own with DEFAULT_TIMEOUT seconds per operation.

    Always checked: granted, our nonce (no replayed reply), a SHA-256 imprint of `data`.
    With `roots` the reply is verified in full as `verify_timestamp` does. Raises
    SignatureError: TIMESTAMP_UNAVAILABLE (network, HTTP status, not granted), MALFORMED,
    EVIDENCE_MISMATCH, or what verification raises."""
    if not data:
        raise ValueError("there is nothing to timestamp")
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    reply = await _post(tsa_url, request.as_bytes(), client)
    response = _decode(reply, what=f"the reply from {tsa_url}")
    if response.status != PKIStatus.GRANTED:
        detail = "; ".join(response.status_string) or "no reason given"
        raise SignatureError(
            ErrorCode.TIMESTAMP_UNAVAILABLE,
            f"{tsa_url} did not grant a timestamp (status {response.status}: {detail})",
        )
    if response.tst_info.nonce != request.nonce:
        raise SignatureError(
            ErrorCode.EVIDENCE_MISMATCH, f"{tsa_url} answered with another request's nonce"
        )
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm != SHA256_OID or imprint.message != hashlib.sha256(data).digest():
        raise SignatureError(
            ErrorCode.EVIDENCE_MISMATCH, f"{tsa_url} stamped other data than we sent"
        )
    if roots:
        _verify(response, data, roots, intermediates, None, nonce=request.nonce)
    return reply


async def _post(url: str, query: bytes, client: httpx.AsyncClient | None) -> bytes:
    """POST the query; the body of a 200 reply, at most MAX_REPLY_BYTES."""
    http = client if client is not None else httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
    headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    chunks: list[bytes] = []
    try:
        async with http.stream("POST", url, content=query, headers=headers) as response:
            if response.status_code != httpx.codes.OK:
                raise SignatureError(
                    ErrorCode.TIMESTAMP_UNAVAILABLE,
                    f"{url} answered HTTP {response.status_code} to a timestamp query",
                )
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise SignatureError(
                        ErrorCode.MALFORMED,
                        f"{url} sent more than {MAX_REPLY_BYTES} bytes: not a timestamp reply",
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise SignatureError(
            ErrorCode.TIMESTAMP_UNAVAILABLE,
            f"cannot reach the timestamp authority {url}: {type(exc).__name__}: {exc}",
        ) from exc
    finally:
        if client is None:
            await http.aclose()
    return b"".join(chunks)


def verify_timestamp(
    token: bytes,
    data: bytes,
    roots: Sequence[x509.Certificate],
    *,
    intermediates: Sequence[x509.Certificate] = (),
    tsa_certificate: x509.Certificate | None = None,
) -> datetime:
    """The time (aware, UTC) a TSA token asserts for `data`, offline.

    `token` is a DER TimeStampResp (what `request_timestamp` returns) or a bare
    TimeStampToken. The TSA's certificate must chain to `roots` (through `intermediates`,
    or the certificates in the token) and be valid at the asserted time; `tsa_certificate`
    pins the one TSA allowed. Raises SignatureError: MALFORMED, EVIDENCE_MISMATCH (a token
    over other data), UNTRUSTED_CHAIN, CERTIFICATE_EXPIRED / _NOT_YET_VALID (at the asserted
    time), KEY_USAGE (no critical timeStamping EKU), INVALID_SIGNATURE."""
    if not roots:
        raise ValueError("timestamps are verified against at least one TSA root certificate")
    response = _decode(token, what="the timestamp token")
    if response.status != PKIStatus.GRANTED:
        raise SignatureError(
            ErrorCode.MALFORMED, f"not a granted timestamp (status {response.status})"
        )
    return _verify(response, data, roots, intermediates, tsa_certificate, nonce=None)


def _verify(
    response: TimeStampResponse,
    data: bytes,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    tsa_certificate: x509.Certificate | None,
    *,
    nonce: int | None,
) -> datetime:
    verifier = VerifierBuilder(
        roots=list(roots),
        intermediates=list(intermediates),
        tsa_certificate=tsa_certificate,
        nonce=nonce,
    ).build()
    try:
        verifier.verify_message(response, data)
    except VerificationError as exc:
        raise _refusal(str(exc)) from exc
    except ValueError as exc:  # the Rust layer's parse and store errors
        raise SignatureError(ErrorCode.MALFORMED, f"unusable timestamp token: {exc}") from exc
    return as_utc(response.tst_info.gen_time)


_REFUSALS: tuple[tuple[str, ErrorCode], ...] = (
    ("Mismatch between messages", ErrorCode.EVIDENCE_MISMATCH),
    ("Nonce mismatch", ErrorCode.EVIDENCE_MISMATCH),
    ("Policy ID mismatch", ErrorCode.EVIDENCE_MISMATCH),
    ("EKU", ErrorCode.KEY_USAGE),
    ("certificate has expired", ErrorCode.CERTIFICATE_EXPIRED),
    ("certificate is not yet valid", ErrorCode.CERTIFICATE_NOT_YET_VALID),
    ("certificate verify error", ErrorCode.UNTRUSTED_CHAIN),
    ("does not match the one provided", ErrorCode.UNTRUSTED_CHAIN),
    ("does not match the one in the Verification Options", ErrorCode.UNTRUSTED_CHAIN),
    ("Certificates neither found", ErrorCode.UNTRUSTED_CHAIN),
    ("Unsupported hash algorithm", ErrorCode.ALGORITHM_NOT_ALLOWED),
)


def _refusal(message: str) -> SignatureError:
    """rfc3161-client says why in words only; map them to our codes (a signature failure
    unless the words say otherwise)."""
    for words, code in _REFUSALS:
        if words in message:
            return SignatureError(code, f"timestamp refused: {message}")
    return SignatureError(ErrorCode.INVALID_SIGNATURE, f"timestamp refused: {message}")


def _decode(token: bytes, *, what: str) -> TimeStampResponse:
    if not isinstance(token, bytes) or not token:
        raise SignatureError(ErrorCode.MALFORMED, f"{what} is empty or not bytes")
    if len(token) > MAX_REPLY_BYTES:
        raise SignatureError(ErrorCode.MALFORMED, f"{what} is over {MAX_REPLY_BYTES} bytes")
    try:
        return decode_timestamp_response(sorted_certificates(as_response(token)))
    except ValueError as exc:
        raise SignatureError(
            ErrorCode.MALFORMED, f"{what} is not a DER TimeStampResp or token: {exc}"
        ) from exc


# --- the little DER the two fixes need -----------------------------------------------------

_SEQUENCE = 0x30
_OID = 0x06
_CONTEXT_0 = 0xA0
_GRANTED_STATUS = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted(0) }


def _tlv(data: bytes, position: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `position`; ValueError for
    anything but a definite-length, low-tag-number element that fits before `end`."""
    if position + 2 > end:
        raise ValueError("truncated DER")
    tag, first = data[position], data[position + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers are not expected here")
    start = position + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > end:
            raise ValueError("indefinite or oversized DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > end:
        raise ValueError("DER element overruns its container")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in a content span."""
    found = []
    position = start
    while position < end:
        tag, content, after = _tlv(data, position, end)
        found.append((tag, position, content, after))
        position = after
    return found


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def as_response(token: bytes) -> bytes:
    """A bare TimeStampToken (ContentInfo: SEQUENCE { OID, [0] ... }) wrapped in a granted
    TimeStampResp; anything else unchanged (the parser judges it)."""
    try:
        tag, start, end = _tlv(token, 0, len(token))
        if tag != _SEQUENCE or end != len(token):
            return token
        first = _tlv(token, start, end)[0]
    except ValueError:
        return token
    if first != _OID:
        return token
    body = _GRANTED_STATUS + token
    return bytes([_SEQUENCE]) + _der_length(len(body)) + body


def sorted_certificates(response: bytes) -> bytes:
    """The TimeStampResp with SignedData.certificates in DER SET OF order (same bytes, same
    length, elements reordered); unchanged when already sorted or not the expected shape.
    Safe: the certificates are not covered by the TSA's signature."""
    try:
        tag, start, end = _tlv(response, 0, len(response))
        if tag != _SEQUENCE or end != len(response):
            return response
        parts = _children(response, start, end)
        if len(parts) != 2 or parts[1][0] != _SEQUENCE:
            return response
        content_info = _children(response, parts[1][2], parts[1][3])
        if len(content_info) != 2 or content_info[1][0] != _CONTEXT_0:
            return response
        wrapped = _children(response, content_info[1][2], content_info[1][3])
        if len(wrapped) != 1 or wrapped[0][0] != _SEQUENCE:
            return response
        signed_data = _children(response, wrapped[0][2], wrapped[0][3])
        certificates = [part for part in signed_data[3:4] if part[0] == _CONTEXT_0]
        if not certificates:
            return response
        set_start, set_end = certificates[0][2], certificates[0][3]
        elements = [
            response[begin:after] for _, begin, _, after in _children(response, set_start, set_end)
        ]
    except ValueError:
        return response
    ordered = sorted(elements)
    if ordered == elements:
        return response
    return response[:set_start] + b"".join(ordered) + response[set_end:]
