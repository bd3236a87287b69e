"""HTTP push: POST the envelope and its transit evidence to an agency's endpoint.

2xx is delivered; 408, 425, 429, 5xx, a timeout or a connection error is worth another
attempt (honouring `Retry-After`); any other answer will not get better by repeating it,
nor will a URL or address that `push_targets` refuses. Unless an operator allowed the host,
the request goes to the address that was checked (`Host` and the TLS name stay the
registered host's; `Connection: close`, so a connection made for one host never carries
another's request).
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any, Literal

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
from axis.delivery.adapters.push_targets import PushTargets, TargetRefused
from schemas.push_format import build_push_request

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class PushDelivery(RetryingDeliveryConfig):
    """The axis POSTs each document to the agency's endpoint."""

    kind: Literal["push"] = "push"
    url: HttpUrl
    secret: str | None = Field(default=None, min_length=16, max_length=512)
    """Shared with the agency: the axis signs every push body with it (HMAC-SHA256).
    Write-only: omitted when an operator changes a registration, the stored one is kept."""
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


async def _pinned(
    url: httpx.URL, targets: PushTargets
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """Where to connect for `url`: the checked address, with the headers and TLS name that
    keep the request the registered host's. A host the operator allowed goes as it is."""
    targets.check_url(str(url))
    host = url.raw_host.decode("ascii")
    if targets.allows(host):
        return url, {}, {}
    address = await targets.resolve(host, url.port or (443 if url.scheme == "https" else 80))
    headers = {"Host": url.netloc.decode("ascii"), "Connection": "close"}
    return url.copy_with(host=address), headers, {"sni_hostname": host}


class PushAdapter(Adapter[PushDelivery]):
    config = PushDelivery

    async def deliver(self, delivery: PushDelivery, payload: Payload) -> Outcome:
        if delivery.secret is None:
            return Dead("no push secret is registered for the agency")
        url = httpx.URL(str(delivery.url))
        try:
            target, pinning, extensions = await _pinned(url, self.resources.push_targets)
        except TargetRefused as exc:
            return Dead(str(exc))
        except OSError as exc:
            return Retry(None, f"cannot resolve {url.host}: {exc}")
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
                target,
                content=body,
                headers={**headers, **pinning},
                timeout=delivery.timeout_seconds,
                extensions=extensions,
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
