"""All configuration of the axis, in one place.

Values come from `AXIS_*` environment variables, then from an optional TOML file named by
`AXIS_CONFIG_FILE`, then from the defaults below. The defaults need no outside service:
embedded bus, SQLite and a directory blob store under `data_dir`.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from axis.delivery.adapters.push_targets import PushTargets
from schemas.edxml.limits import EnvelopeLimits


class Settings(BaseSettings):
    """Every setting of the axis; each one is documented in README.md."""

    model_config = SettingsConfigDict(env_prefix="AXIS_", extra="forbid")

    data_dir: Path = Field(
        default=Path("./axis-data"),
        description="Directory for the embedded bus, the SQLite database and the blob store.",
    )
    bus: Literal["embedded", "kafka"] = Field(
        default="embedded", description="Which bus engine carries events."
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_replication_factor: int = Field(
        default=1, description="Replication factor of topics the axis creates (3 in production)."
    )
    topic_namespace: str = Field(
        default="axis",
        description="Prefix of every topic name, so several axes can share one cluster.",
    )
    bus_partitions: int = Field(
        default=12,
        ge=1,
        description="Partitions of the documents and deliveries topics (the parallelism ceiling).",
    )
    embedded_bus_path: Path | None = Field(
        default=None, description="SQLite file of the embedded bus; default data_dir/bus.sqlite3."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite under data_dir/axis.sqlite3.",
    )
    blob_dir: Path | None = Field(
        default=None, description="Content-addressed blob store directory; default data_dir/blobs."
    )
    host: str = Field(default="127.0.0.1", description="Address `axis serve` listens on.")
    port: int = Field(default=8080, description="Port `axis serve` listens on.")
    log_level: str = Field(default="info", description="Log level of the service.")
    signing_key_file: Path | None = Field(
        default=None,
        description="PEM private key the axis signs its evidence with; default a dev key.",
    )
    signing_certificate_file: Path | None = Field(
        default=None, description="PEM certificate (and chain) of the axis signing key."
    )
    signing_key_password: str | None = Field(
        default=None, description="Password of the signing key file, if it is encrypted."
    )
    trust_roots_file: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs agency certificates chain to; default the dev CA.",
    )
    agency_rate_per_second: float = Field(
        default=20.0, gt=0, description="Sustained requests per second one agency may send."
    )
    agency_rate_burst: int = Field(
        default=50, ge=1, description="Requests one agency may send in a burst."
    )
    retry_delays_seconds: tuple[float, float, float, float] = Field(
        default=(10.0, 60.0, 300.0, 1800.0),
        description="Waits before push attempts 2, 3, 4 and every later one (+-20% jitter).",
    )
    inbox_ack_overdue_seconds: int = Field(
        default=86_400, ge=1, description="A pull delivery not acknowledged this long is overdue."
    )
    audit_origin: str = Field(
        default="edoc-axis/audit",
        description="Name of this axis's audit log in its signed checkpoints (a host/path).",
    )
    checkpoint_every_entries: int = Field(
        default=1000, ge=1, description="Sign a checkpoint after this many new entries..."
    )
    checkpoint_interval_seconds: float = Field(
        default=60.0, gt=0, description="...or this long after the last one, if it grew."
    )
    tsa_url: str | None = Field(
        default=None, description="RFC 3161 timestamp authority that stamps each checkpoint."
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest envelope accepted, in bytes."
    )
    xml_max_depth: int = Field(default=64, ge=8, description="Deepest element nesting accepted.")
    xml_max_elements: int = Field(
        default=50_000, ge=100, description="Most elements one envelope may hold."
    )
    xml_max_attributes: int = Field(
        default=32, ge=1, description="Most attributes one element may carry."
    )
    max_attachments: int = Field(
        default=100, ge=0, description="Most attachments one document may carry."
    )
    max_attachment_bytes: int = Field(
        default=48 * 1024 * 1024, ge=0, description="Largest decoded attachment, in bytes."
    )
    legacy_organ_codes: bool = Field(
        default=True,
        description="Also accept the older 3-part organisation codes (e.g. 28.22.H17).",
    )
    vdxp_prefix: str = Field(
        default="/vdxp",
        pattern=r"^(/[A-Za-z0-9._~-]+)+$",
        description="Path under which the VDXP-compatible endpoints are served.",
    )
    vdxp_timestamp_window_seconds: int = Field(
        default=300,
        ge=1,
        description="A VDXP request's timestamp may be this far from the axis's clock.",
    )
    vdxp_clock_zone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="Time zone of VDXP clients' timestamps (the SDK sends local time, no zone).",
    )
    push_allow_insecure_hosts: list[str] = Field(
        default=[],
        description="Push hosts (names, addresses or networks) allowed plain http and "
        "loopback, link-local or metadata addresses; e.g. 127.0.0.1 for tests.",
    )
    file_drop_root: Path | None = Field(
        default=None,
        description="Directory every file-drop folder must lie under; default data_dir/file-drop.",
    )
    bus_retention_hours: float = Field(
        default=7 * 24.0,
        gt=0,
        description="Bus records are kept this long (embedded: and until every group committed).",
    )
    disk_reserve_bytes: int = Field(
        default=1024**3,
        ge=0,
        description="Ingest refuses (503) while the data disk has less than this free.",
    )
    inflight_body_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="Request-body bytes one API process receives and checks at once; a send "
        "beyond it waits (inflight_wait_seconds), then gets 503 with Retry-After.",
    )
    inflight_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a send waits for room in the in-flight budget before its 503.",
    )
    json_body_limit_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest JSON request body, in bytes (envelopes have max_body_bytes).",
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's headers must arrive within this."
    )
    body_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A request's whole body must arrive within this."
    )
    agency_max_in_flight: int = Field(
        default=1,
        ge=1,
        description="Requests of one agency (or token) handled at once (bench/fairness.py).",
    )
    admission_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a request over its agency's allowance waits before a 429.",
    )
    refusal_summary_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Flood-type refusals are summarised in the audit log this often.",
    )
    console_session_hours: float = Field(
        default=8.0, gt=0, description="A console sign-in lasts this long, then asks again."
    )
    console_sample_seconds: float = Field(
        default=5.0, gt=0, description="The overview samples its figures this often (an hour kept)."
    )
    console_alert_lag_records: int = Field(
        default=10_000, ge=1, description="Overview banner: a consumer group this many behind."
    )
    console_alert_latency_p99_seconds: float = Field(
        default=60.0, gt=0, description="Overview banner: submit-to-delivered p99 above this."
    )
    console_alert_unsigned_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Overview banner: audit entries waiting this long for a signed checkpoint.",
    )
    console_alert_dead_letters: int = Field(
        default=1, ge=1, description="Overview banner: this many dead letters waiting."
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Where `axis worker` serves /metrics (its delivery counters); none if unset.",
    )
    token_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A checked API token's principal is remembered this long (0: never); a "
        "revocation by another process takes effect within it.",
    )
    registry_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Ingest remembers agencies' status and certificates this long (0: never); "
        "a registry change by another process takes effect within it.",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        description="PostgreSQL connections each process keeps open (and may open as many "
        "again under a burst); SQLite keeps its one writer.",
    )
    serve_workers: Literal["auto"] | NonNegativeInt = Field(
        default="auto",
        description="API processes of `axis serve`, plus one for the workers (`auto`: one "
        "process per core in all; 0: the API and the workers in one process).",
    )
    serve_drain_seconds: float = Field(
        default=0.0,
        ge=0,
        description="After SIGTERM, `axis serve` answers /readyz 503 and goes on serving this "
        "long before it stops accepting (then it finishes the requests in flight): a load "
        "balancer's health check takes it out first. 0: it stops accepting at once.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init values, then environment, then the TOML file named by AXIS_CONFIG_FILE."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("AXIS_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'axis.sqlite3'}"

    @cached_property
    def resolved_bus_path(self) -> Path:
        return self.embedded_bus_path or self.data_dir / "bus.sqlite3"

    @cached_property
    def dev_key_dir(self) -> Path:
        return self.data_dir / "dev-keys"

    @cached_property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @cached_property
    def push_targets(self) -> PushTargets:
        return PushTargets.allowing(self.push_allow_insecure_hosts)

    @cached_property
    def resolved_file_drop_root(self) -> Path:
        return (self.file_drop_root or self.data_dir / "file-drop").resolve()

    @cached_property
    def envelope_limits(self) -> EnvelopeLimits:
        """The bounds every envelope is parsed within (AXIS_MAX_BODY_BYTES, AXIS_XML_*, ...)."""
        return EnvelopeLimits(
            max_body_bytes=self.max_body_bytes,
            max_depth=self.xml_max_depth,
            max_elements=self.xml_max_elements,
            max_attributes=self.xml_max_attributes,
            max_attachments=self.max_attachments,
            max_attachment_bytes=self.max_attachment_bytes,
        )
