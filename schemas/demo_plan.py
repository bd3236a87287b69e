"""What `axis demo` hands its sample agencies: one JSON file, written by the axis side
(`axis.demo`) and read by the agency side (`adapters.sample_agencies`).

Why a file in `schemas/`: the sample agencies run in a process of their own that imports
nothing from `axis`, as a real agency's system would; this model is the one description
of what passes between the two, so neither side keeps a copy of the other's idea of it.
The file holds the agencies' tokens: it is written 0600 inside the demo's data dir.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SampleDelivery(StrEnum):
    """How a sample agency receives: the registry's kinds, and a push endpoint that fails."""

    PULL = "pull"
    PUSH = "push"
    FILE_DROP = "file_drop"
    FAILING_PUSH = "failing_push"
    """Registered as push; its endpoint answers 503 to everything, so the axis retries and
    then gives up (a dead letter for the operator to see)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleAgency(_Model):
    """One agency as its system knows itself."""

    code: str
    name: str
    abbreviation: str
    """What its document numbers carry (`123/VPCP-TH`)."""
    place: str
    delivery: SampleDelivery
    token: str
    certificate_pem: str
    """Its registered signing certificate; its key stays in the dev key directory."""
    folder: Path | None = None
    """Where deliveries land: the push receiver's store, or the axis's drop folder."""
    listen_fd: int | None = None
    """The listening socket (inherited) its push endpoint serves on."""
    push_secret: str | None = None


class SampleDocument(_Model):
    """A kind of document the sample agencies send, with a realistic subject."""

    type_name: str
    subject: str
    type: int | None = None


class SampleSigner(_Model):
    position: str
    full_name: str


class DemoPlan(_Model):
    """Everything the sample agencies need: where the axis is, whom to trust, who they are."""

    axis_url: str
    axis_certificate_pem: str
    trust_roots_pem: str
    dev_key_dir: Path
    documents_per_second: float = Field(gt=0)
    agencies: list[SampleAgency] = Field(min_length=2)
    documents: list[SampleDocument] = Field(min_length=1)
    signers: list[SampleSigner] = Field(min_length=1)
