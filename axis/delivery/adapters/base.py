"""The delivery adapter contract: the strict cut-off between the delivery worker and the
ways a document reaches an agency.

An adapter kind is a config model (the agency's registered `delivery` JSON) and an adapter
whose `deliver` makes one attempt and says how it went, as an `Outcome`: `Delivered`,
`Retry` (the recipient's side may get better) or `Dead` (it will not). An adapter never
touches delivery state, the bus or the database, and never raises for anything the
recipient's side does: the worker turns every outcome into retries, back-off, dead letters
and replay, alike for every kind.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from axis.delivery.adapters.push_targets import PushTargets
from axis.storage.blobs import BlobStore


class RetryPolicy(BaseModel):
    """When deliveries to one agency stop being retried and go to the dead letters."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=12, ge=1, le=1000)
    max_age_seconds: int = Field(default=86_400, ge=1)
    """Counted from when the delivery was queued, or replayed last."""


class DeliveryConfig(BaseModel):
    """How documents reach one agency; each kind's model adds its own fields."""

    model_config = ConfigDict(extra="forbid")

    kind: str

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy()


class RetryingDeliveryConfig(DeliveryConfig):
    """A kind whose attempts can fail on the recipient's side: the operator sets the policy."""

    retry: RetryPolicy = RetryPolicy()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.retry


@dataclass(frozen=True)
class Payload:
    """What one attempt delivers: the ids a recipient drops repeats by, and the bytes (read
    only when an adapter asks: the pull inbox never needs them)."""

    delivery_id: str
    document_id: str
    attempt: int
    content_sha256: str
    transit_sha256: str
    blobs: BlobStore

    async def envelope(self) -> bytes:
        """The sender's envelope, exactly as it was signed."""
        return await self.blobs.get(self.content_sha256)

    async def evidence(self) -> bytes:
        """The axis's signed transit record over those bytes."""
        return await self.blobs.get(self.transit_sha256)


@dataclass(frozen=True)
class Delivered:
    detail: Mapping[str, object] = field(default_factory=dict)
    """What the `delivery.attempted` event adds (push: `http_status`)."""


@dataclass(frozen=True)
class Retry:
    after: float | None
    """Seconds the recipient asked to wait, if it said; the worker's back-off otherwise."""
    reason: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Dead:
    reason: str
    detail: Mapping[str, object] = field(default_factory=dict)


Outcome = Delivered | Retry | Dead


@dataclass(frozen=True)
class Resources:
    """What the worker lends every adapter (a new kind needing more adds it here)."""

    http: httpx.AsyncClient
    """One pooled HTTP client for the whole worker process."""
    push_targets: PushTargets
    """Which push hosts and addresses the operator allowed beyond https to ordinary ones."""
    file_drop_root: Path
    """The directory every file-drop folder must lie under (resolved)."""


ConfigT = TypeVar("ConfigT", bound=DeliveryConfig)


class Adapter(abc.ABC, Generic[ConfigT]):
    """One delivery kind. `config` is the model its agencies' `delivery` JSON must fit."""

    config: ClassVar[type[DeliveryConfig]]

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    @abc.abstractmethod
    async def deliver(self, delivery: ConfigT, payload: Payload) -> Outcome:
        """One attempt; an outcome for anything the recipient's side does, never a raise."""
