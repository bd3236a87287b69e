"""HTTP push: POST the envelope and its transit evidence to an agency's endpoint.

The outcome says what the delivery worker should do next: 2xx is delivered; 408, 429, 5xx,
a timeout or a connection error is worth another attempt (honouring `Retry-After`); any
other answer will not get better by repeating it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from adapters.push_format import build_push_request

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PushOutcome:
    delivered: bool
    retryable: bool
    status: int | None
    error: str | None
    retry_after: float | None
    """Seconds the endpoint asked us to wait, if it said so."""
    duration: float


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def push(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout_seconds: float,
    envelope: bytes,
    evidence: bytes,
    delivery_id: str,
    document_id: str,
    attempt: int,
    secret: str,
) -> PushOutcome:
    """One push attempt; never raises for anything the network or the endpoint does."""
    headers, body = build_push_request(
        envelope, evidence, delivery_id, document_id, attempt, secret
    )
    started = time.monotonic()
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_seconds)
    except httpx.HTTPError as exc:
        return PushOutcome(
            False, True, None, f"{type(exc).__name__}: {exc}", None, time.monotonic() - started
        )
    duration = time.monotonic() - started
    if response.is_success:
        return PushOutcome(True, False, response.status_code, None, None, duration)
    return PushOutcome(
        False,
        response.status_code in RETRYABLE_STATUSES,
        response.status_code,
        response.text[:500],
        _retry_after(response.headers.get("retry-after")),
        duration,
    )
