"""HTTP push: POST the envelope and its transit evidence to an agency's endpoint.

2xx is delivered; 408, 425, 429, 5xx, a timeout or a connection error is worth another
attempt (honouring `Retry-After`); any other answer will not get better by repeating it.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx
from pydantic import Field, HttpUrl

from axis.delivery.adapters.base import (
    Adapter,
    Dead,
    Delivered,
    Outcome,
    Payload,
    Retry,
    RetryingDeliveryConfig,
)
from schemas.push_format import build_push_request

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class PushDelivery(RetryingDeliveryConfig):
    """The axis POSTs each document to the agency's endpoint."""

    kind: Literal["push"] = "push"
    url: HttpUrl
    secret: str = Field(min_length=16, max_length=512)
    """Shared with the agency: the axis signs every push body with it (HMAC-SHA256)."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class PushAdapter(Adapter[PushDelivery]):
    config = PushDelivery

    async def deliver(self, delivery: PushDelivery, payload: Payload) -> Outcome:
        headers, body = build_push_request(
            await payload.envelope(),
            await payload.evidence(),
            payload.delivery_id,
            payload.document_id,
            payload.attempt,
            delivery.secret,
        )
        try:
            response = await self.resources.http.post(
                str(delivery.url), content=body, headers=headers, timeout=delivery.timeout_seconds
            )
        except httpx.HTTPError as exc:
            return Retry(None, f"{type(exc).__name__}: {exc}")
        detail = {"http_status": response.status_code}
        if response.is_success:
            return Delivered(detail)
        if response.status_code in RETRYABLE_STATUSES:
            after = _retry_after(response.headers.get("retry-after"))
            return Retry(after, response.text[:500], detail)
        return Dead(response.text[:500], detail)
