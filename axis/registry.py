"""The agency registry: who may send and receive, and how each agency is delivered to.

Operators register agencies one by one or import a whole country from a CSV or JSON file;
every agency reads the directory (codes, names, parents, levels, whether active).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.config import Settings
from axis.delivery.adapters import DeliverySetting
from axis.delivery.adapters.file_drop import FileDropDelivery, outside_root
from axis.delivery.adapters.pull import PullDelivery
from axis.delivery.adapters.push import PushDelivery
from axis.delivery.adapters.push_targets import PushTargets, TargetRefused
from axis.events import Event, Origin
from axis.storage.models import (
    Agency,
    AgencyCertificate,
    AgencyLevel,
    AgencyStatus,
    VdxpAccess,
    utcnow,
)
from schemas.events import AgencyChanged, AgencyCreated, CertificateRegistered, FieldChange
from signing.certificates import RegisteredCertificate, check_public_key
from signing.errors import SignatureError
from signing.identity import AxisIdentity
from signing.keys import certificate_pem


class RegistryError(Exception):
    """A registry change that cannot be made as asked (unknown parent, bad file, ...)."""


class AgencyNotFound(RegistryError):
    """No agency is registered with the code asked for."""


@dataclass(frozen=True)
class RegistryRules:
    """What a registration may point at: push targets and the file-drop root as the
    operator configured them, and the axis's own certificates (never an agency's)."""

    push_targets: PushTargets
    file_drop_root: Path
    axis_certificates: tuple[x509.Certificate, ...]

    @classmethod
    def of(cls, settings: Settings, identity: AxisIdentity) -> RegistryRules:
        return cls(
            settings.push_targets, settings.resolved_file_drop_root, identity.signer.certificates
        )


class _Registration(BaseModel):
    """What a registration says about an agency besides how it is delivered to."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.]+$")
    name: str = Field(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")
    """No control characters: none belongs in a name, and PostgreSQL cannot store NUL."""
    parent_code: str | None = None
    level: AgencyLevel
    status: AgencyStatus = AgencyStatus.ACTIVE
    allow_sha1: bool = False
    unsigned_statuses: bool = False


class AgencyRecord(_Registration):
    """An agency as an operator registers or imports it. A push `secret` left out of a
    change keeps the one stored (secrets are write-only)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "000.00.05.H26",
                    "name": "UBND Quận Hoàn Kiếm",
                    "parent_code": "000.00.00.H26",
                    "level": "district",
                    "delivery": {
                        "kind": "push",
                        "url": "https://dms.hoankiem.example/edoc",
                        "secret": "a shared secret of 16 or more characters",
                    },
                }
            ]
        },
    )

    delivery: DeliverySetting = PullDelivery()


class AgencyView(_Registration):
    """An agency's registration as an operator reads it: secrets are write-only, so its
    delivery comes without one and `push_secret_set` says whether one is stored."""

    delivery: dict[str, Any]
    push_secret_set: bool


class CertificateRecord(BaseModel):
    """A signing certificate to register, optionally inside a narrower window."""

    model_config = ConfigDict(extra="forbid")

    pem: str = Field(min_length=1, max_length=64 * 1024)
    not_before: datetime | None = None
    not_after: datetime | None = None


class CurrentCertificate(BaseModel):
    fingerprint_sha256: str
    not_after: datetime
    pem: str


class DirectoryEntry(BaseModel):
    """What every agency may read about every other."""

    code: str
    name: str
    parent_code: str | None
    level: AgencyLevel
    active: bool
    certificate: CurrentCertificate | None
    """The newest certificate valid now: what a recipient checks the sender's signature with."""


_records = TypeAdapter(list[AgencyRecord])


def read_agency_file(path: Path) -> list[AgencyRecord]:
    """Agencies from a JSON list or a CSV file (header: the `AgencyRecord` field names;
    `delivery` as JSON text, empty for pull)."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() == ".json":
            return _records.validate_json(text)
        rows = [
            {key: value for key, value in row.items() if value not in ("", None)}
            for row in csv.DictReader(io.StringIO(text))
        ]
        for row in rows:
            if "delivery" in row:
                row["delivery"] = json.loads(row["delivery"])
        return _records.validate_python(rows)
    except (ValidationError, json.JSONDecodeError, csv.Error) as exc:
        raise RegistryError(f"{path}: {exc}") from exc


def _apply(agency: Agency, record: AgencyRecord) -> None:
    delivery = record.delivery.model_dump(mode="json")
    if isinstance(record.delivery, PushDelivery) and record.delivery.secret is None:
        stored = agency.delivery.get("secret") if agency.delivery else None
        if stored is None:
            raise RegistryError(f"{record.code}: a push delivery needs a secret")
        delivery["secret"] = stored
    agency.name = record.name
    agency.parent_code = record.parent_code
    agency.level = record.level
    agency.status = record.status
    agency.delivery = delivery
    agency.allow_sha1 = record.allow_sha1
    agency.unsigned_statuses = record.unsigned_statuses


def _check_delivery(record: AgencyRecord, rules: RegistryRules) -> None:
    """A push URL the operator's settings allow, a drop folder under the file-drop root."""
    delivery = record.delivery
    if isinstance(delivery, PushDelivery):
        try:
            rules.push_targets.check_url(str(delivery.url))
        except TargetRefused as exc:
            raise RegistryError(f"{record.code}: {exc}") from exc
    if isinstance(delivery, FileDropDelivery):
        refused = outside_root(delivery.directory, rules.file_drop_root)
        if refused is not None:
            raise RegistryError(f"{record.code}: {refused}")


REDACTED = "<redacted>"
SECRET_FIELDS = frozenset({"delivery.secret", "vdxp.secret"})


@dataclass(frozen=True)
class AgencyChange:
    """What saving one record did: the registration before (None for a new agency) and
    after, as flat fields (`_fields`), secrets included: never log these as they are."""

    code: str
    before: dict[str, Any] | None
    after: dict[str, Any]

    def event(self, origin: Origin) -> Event | None:
        """`agency.created` with the whole registration, or `agency.changed` with each
        changed field before and after; secrets redacted. None when nothing changed."""
        if self.before is None:
            record = {field: _audit_value(field, value) for field, value in self.after.items()}
            return origin.event(AgencyCreated(from_=origin.address, record=record), self.code)
        before, after = self.before, self.after
        changes = {
            field: FieldChange(
                before=_audit_value(field, before.get(field)),
                after=_audit_value(field, after.get(field)),
            )
            for field in sorted(before.keys() | after.keys())
            if before.get(field) != after.get(field)
        }
        if not changes:
            return None
        return origin.event(AgencyChanged(from_=origin.address, changes=changes), self.code)


def agency_events(changes: Sequence[AgencyChange], origin: Origin) -> list[Event]:
    """The audit events of a registry change by `origin` (none for what did not change)."""
    return [event for change in changes if (event := change.event(origin)) is not None]


def agency_counts(changes: Sequence[AgencyChange]) -> dict[str, int]:
    """How many agencies were created and how many updated (unchanged ones included)."""
    created = sum(change.before is None for change in changes)
    return {"created": created, "updated": len(changes) - created}


def _fields(agency: Agency) -> dict[str, Any]:
    """An agency's registration as flat JSON values (`delivery.url`, ...), secrets included."""
    return {
        "name": agency.name,
        "parent_code": agency.parent_code,
        "level": AgencyLevel(agency.level).value,
        "status": AgencyStatus(agency.status).value,
        "allow_sha1": agency.allow_sha1,
        "unsigned_statuses": agency.unsigned_statuses,
        **{f"delivery.{key}": value for key, value in agency.delivery.items()},
    }


def _audit_value(field: str, value: Any) -> Any:
    """`value` of `field` as the audit log may hold it: the push and VDXP secrets redacted,
    and whatever in the push URL may be a credential (user info, query)."""
    if value is None:
        return None
    if field in SECRET_FIELDS:
        return REDACTED
    if field == "delivery.url":
        parts = urlsplit(str(value))
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{REDACTED}@{host}" if "@" in parts.netloc else host
        return urlunsplit(parts._replace(netloc=netloc, query=REDACTED if parts.query else ""))
    return value


async def save_agencies(
    session: AsyncSession, records: Sequence[AgencyRecord], rules: RegistryRules
) -> list[AgencyChange]:
    """Create or update `records` in one transaction; parents may come after their children
    in the input. Returns what changed for each, parents first."""
    codes = [record.code for record in records]
    if len(set(codes)) != len(codes):
        raise RegistryError("the same organisation code appears twice")
    for record in records:
        _check_delivery(record, rules)
    known = {
        agency.code: agency
        for agency in await session.scalars(select(Agency).where(Agency.code.in_(codes)))
    }
    pending = {record.code: record for record in records}
    changes: list[AgencyChange] = []
    while pending:
        ready = [
            record
            for record in pending.values()
            if record.parent_code is None
            or record.parent_code not in pending
            or record.parent_code == record.code
        ]
        if not ready:
            raise RegistryError(f"parent codes form a cycle among {sorted(pending)}")
        for record in ready:
            await _check_parent(session, record)
            agency = known.get(record.code)
            before = None if agency is None else _fields(agency)
            if agency is None:
                agency = Agency(code=record.code)
                session.add(agency)
            _apply(agency, record)
            changes.append(AgencyChange(record.code, before, _fields(agency)))
            del pending[record.code]
        await session.flush()
    return changes


async def _check_parent(session: AsyncSession, record: AgencyRecord) -> None:
    if record.parent_code is None:
        return
    if record.parent_code == record.code:
        raise RegistryError(f"{record.code} cannot be its own parent")
    if await session.get(Agency, record.parent_code) is None:
        raise RegistryError(f"{record.code}: parent {record.parent_code} is not registered")


async def get_agency(session: AsyncSession, code: str) -> Agency:
    agency = await session.get(Agency, code)
    if agency is None:
        raise AgencyNotFound(f"no agency is registered with code {code}")
    return agency


def agency_view(agency: Agency) -> AgencyView:
    """The operator's view of a stored agency, without its secrets."""
    return AgencyView(
        code=agency.code,
        name=agency.name,
        parent_code=agency.parent_code,
        level=agency.level,
        status=agency.status,
        delivery={key: value for key, value in agency.delivery.items() if key != "secret"},
        push_secret_set=bool(agency.delivery.get("secret")),
        allow_sha1=agency.allow_sha1,
        unsigned_statuses=agency.unsigned_statuses,
    )


async def add_certificate(
    session: AsyncSession, code: str, record: CertificateRecord, rules: RegistryRules
) -> AgencyCertificate:
    """Register a signing certificate for agency `code` (several may overlap: rotation).
    One carrying the key of the axis's own certificate or its chain is refused: documents
    signed with it would pass as the agency's."""
    await get_agency(session, code)
    try:
        registered = RegisteredCertificate.from_pem(
            record.pem, not_before=record.not_before, not_after=record.not_after
        )
    except (ValueError, SignatureError) as exc:
        raise RegistryError(f"not a PEM certificate: {exc}") from exc
    if _public_key(registered.certificate) in map(_public_key, rules.axis_certificates):
        raise RegistryError(
            "this certificate is the axis's own (its key signs the axis's evidence or "
            "certifies it): it cannot be an agency's"
        )
    if not registered.digital_signature:
        raise RegistryError("the certificate does not allow digitalSignature")
    try:
        check_public_key(registered.certificate)
    except SignatureError as exc:
        raise RegistryError(exc.message) from exc
    if registered.not_before >= registered.not_after:
        raise RegistryError("the registration window is empty")
    existing = await session.get(AgencyCertificate, registered.fingerprint)
    if existing is not None and existing.agency_code != code:
        raise RegistryError(f"this certificate is registered for {existing.agency_code}")
    certificate = existing or AgencyCertificate(fingerprint_sha256=registered.fingerprint)
    certificate.agency_code = code
    certificate.pem = certificate_pem(registered.certificate).decode()
    certificate.not_before = registered.not_before
    certificate.not_after = registered.not_after
    session.add(certificate)
    await session.flush()
    return certificate


def _public_key(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def certificate_event(certificate: AgencyCertificate, origin: Origin) -> Event:
    """`certificate.registered`: which certificate (fingerprint, subject, issuer, serial),
    for which agency, and its registration window."""
    parsed = x509.load_pem_x509_certificate(certificate.pem.encode())
    registered = CertificateRegistered(
        from_=origin.address,
        fingerprint_sha256=certificate.fingerprint_sha256,
        subject=parsed.subject.rfc4514_string(),
        issuer=parsed.issuer.rfc4514_string(),
        serial_number=format(parsed.serial_number, "x"),
        not_before=certificate.not_before.isoformat(),
        not_after=certificate.not_after.isoformat(),
    )
    return origin.event(registered, certificate.agency_code)


async def directory(session: AsyncSession) -> list[DirectoryEntry]:
    """Every registered agency, ordered by code, with its current certificate."""
    agencies = await session.scalars(select(Agency).order_by(Agency.code))
    now = utcnow()
    current: dict[str, AgencyCertificate] = {}
    valid_now = select(AgencyCertificate).where(
        AgencyCertificate.not_before <= now, AgencyCertificate.not_after > now
    )
    for certificate in await session.scalars(valid_now.order_by(AgencyCertificate.not_before)):
        current[certificate.agency_code] = certificate  # the newest wins
    return [
        DirectoryEntry(
            code=agency.code,
            name=agency.name,
            parent_code=agency.parent_code,
            level=agency.level,
            active=agency.status is AgencyStatus.ACTIVE,
            certificate=(
                CurrentCertificate(
                    fingerprint_sha256=current[agency.code].fingerprint_sha256,
                    not_after=current[agency.code].not_after,
                    pem=current[agency.code].pem,
                )
                if agency.code in current
                else None
            ),
        )
        for agency in agencies
    ]


SYSTEM_ID_PATTERN = r"^[0-9A-Za-z._-]{1,128}$"


class VdxpEnable(BaseModel):
    """An operator enabling (or re-keying) an agency's VDXP access."""

    model_config = ConfigDict(extra="forbid")

    system_id: str | None = Field(default=None, pattern=SYSTEM_ID_PATTERN)
    """The `systemid` the agency's SDK is configured with; default its organisation code."""


class VdxpCredentials(BaseModel):
    """What the agency configures its VDXP SDK with; the secret is shown only here, once."""

    agency_code: str
    system_id: str
    secret: str


def _vdxp_fields(access: VdxpAccess | None) -> dict[str, Any]:
    if access is None:
        return {"vdxp.enabled": False}
    return {
        "vdxp.enabled": access.enabled,
        "vdxp.system_id": access.system_id,
        "vdxp.secret": access.secret,
    }


async def enable_vdxp(
    session: AsyncSession, code: str, system_id: str | None = None
) -> tuple[VdxpCredentials, AgencyChange]:
    """Enable agency `code` on the VDXP endpoints with a new secret (enabling again rotates
    it: the old one stops working). Returns the credentials to hand over, and the change."""
    await get_agency(session, code)
    system_id = system_id or code
    taken = await session.scalar(
        select(VdxpAccess.agency_code).where(
            VdxpAccess.system_id == system_id, VdxpAccess.agency_code != code
        )
    )
    if taken is not None:
        raise RegistryError(f"systemid {system_id} is already issued to {taken}")
    access = await session.get(VdxpAccess, code)
    before = _vdxp_fields(access)
    if access is None:
        access = VdxpAccess(agency_code=code)
        session.add(access)
    access.system_id = system_id
    access.secret = secrets.token_urlsafe(32)
    access.enabled = True
    await session.flush()
    credentials = VdxpCredentials(agency_code=code, system_id=system_id, secret=access.secret)
    return credentials, AgencyChange(code, before, _vdxp_fields(access))


async def disable_vdxp(session: AsyncSession, code: str) -> AgencyChange:
    """Refuse agency `code` on the VDXP endpoints from now on (its /v1 tokens still work)."""
    await get_agency(session, code)
    access = await session.get(VdxpAccess, code)
    before = _vdxp_fields(access)
    if access is not None:
        access.enabled = False
        await session.flush()
    return AgencyChange(code, before, _vdxp_fields(access))
