"""The demo's directory (`agencies.json`: agencies on the four levels, the documents they
write, who signs them) and its registration, as an operator would make it: agencies with
their delivery settings, their development certificates and a token each, one operator
and one auditor token, every change an audit event.

Tokens live only as digests, so every run creates new ones and revokes the previous run's
(labelled `axis demo`): only the links printed last work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from axis.credentials import create_token, list_tokens, revoke_token, token_event
from axis.events import Event, Origin
from axis.registry import (
    AgencyRecord,
    CertificateRecord,
    RegistryRules,
    add_certificate,
    agency_events,
    certificate_event,
    save_agencies,
)
from axis.storage.models import AgencyCertificate, AgencyLevel, Role
from schemas.demo_plan import SampleDelivery, SampleDocument, SampleSigner
from schemas.events import TokenCreated, TokenRevoked
from signing.keys import certificate_pem, fingerprint_sha256

DIRECTORY_FILE = Path(__file__).with_name("agencies.json")
TOKEN_LABEL = "axis demo"
FAILING_ATTEMPTS = 3
"""Attempts at the endpoint that always fails before its deliveries are dead letters."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectoryAgency(_Model):
    code: str
    name: str
    abbreviation: str
    place: str
    level: AgencyLevel
    parent_code: str | None = None
    delivery: SampleDelivery


class Directory(_Model):
    """What `agencies.json` holds."""

    agencies: list[DirectoryAgency] = Field(min_length=2)
    documents: list[SampleDocument] = Field(min_length=1)
    signers: list[SampleSigner] = Field(min_length=1)


def read_directory(path: Path = DIRECTORY_FILE) -> Directory:
    return Directory.model_validate_json(path.read_bytes())


@dataclass(frozen=True)
class Endpoint:
    """Where one agency receives: a push URL and its secret, a drop folder, or its inbox."""

    url: str | None = None
    secret: str | None = None
    folder: Path | None = None

    def delivery(self, kind: SampleDelivery) -> dict[str, Any]:
        """The registry's `delivery` setting for an agency of `kind` receiving here."""
        if kind is SampleDelivery.PUSH:
            return {"kind": "push", "url": self.url, "secret": self.secret, "timeout_seconds": 10}
        if kind is SampleDelivery.FAILING_PUSH:
            retry = {"max_attempts": FAILING_ATTEMPTS, "max_age_seconds": 3600}
            return {"kind": "push", "url": self.url, "secret": self.secret, "retry": retry}
        if kind is SampleDelivery.FILE_DROP:
            return {"kind": "file_drop", "directory": str(self.folder)}
        return {"kind": "pull"}


@dataclass(frozen=True)
class DemoTokens:
    agencies: dict[str, str]
    operator: str
    auditor: str


async def register(
    session: AsyncSession,
    directory: Directory,
    endpoints: dict[str, Endpoint],
    certificates: dict[str, x509.Certificate],
    rules: RegistryRules,
    origin: Origin,
) -> tuple[DemoTokens, list[Event]]:
    """Register the directory's agencies (created, or updated to this run's endpoints),
    their certificates and new tokens; returns the tokens and the audit events to publish
    inside the same transaction."""
    records = [
        AgencyRecord.model_validate(
            {
                "code": agency.code,
                "name": agency.name,
                "parent_code": agency.parent_code,
                "level": agency.level,
                "delivery": endpoints[agency.code].delivery(agency.delivery),
            }
        )
        for agency in directory.agencies
    ]
    events = agency_events(await save_agencies(session, records, rules), origin)
    for code, certificate in certificates.items():
        if await session.get(AgencyCertificate, fingerprint_sha256(certificate)) is None:
            record = CertificateRecord(pem=certificate_pem(certificate).decode())
            added = await add_certificate(session, code, record, rules)
            events.append(certificate_event(added, origin))
    for earlier in await list_tokens(session):
        if earlier.label == TOKEN_LABEL and earlier.revoked_at is None:
            events.append(
                token_event(TokenRevoked, await revoke_token(session, earlier.id), origin)
            )

    async def token(role: Role, code: str | None = None) -> str:
        created, secret = await create_token(session, role, code, TOKEN_LABEL)
        events.append(token_event(TokenCreated, created, origin))
        return secret

    tokens = DemoTokens(
        agencies={agency.code: await token(Role.AGENCY, agency.code) for agency in records},
        operator=await token(Role.OPERATOR),
        auditor=await token(Role.AUDITOR),
    )
    return tokens, events
