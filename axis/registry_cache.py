"""What ingest reads from the registry for every message, remembered for a moment: agencies'
status and signing options, and a sender's parsed registered certificates.

Why: every document read its sender, its recipients and its sender's certificates (parsing
each PEM again) in sessions of their own; a round trip to the database costs more than the
rest of a small document's checks. Facts are remembered for `ttl` seconds
(`AXIS_REGISTRY_CACHE_SECONDS`, 0: never). Any change to the agencies or certificates tables
committed by a session of this process (the API, the console, `axis.registry`, a test
writing rows straight in) forgets everything at once; one made by another process
(`axis agencies import`) takes effect within `ttl`. Codes that are
not registered are never remembered: a sender can invent any number of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from axis.expiring import Expiring
from axis.storage.models import Agency, AgencyCertificate, AgencyStatus
from signing.certificates import RegisteredCertificate

_changes = 0
"""How many registry changes this process committed: a cache filled before the last one
has forgotten it."""


_REGISTRY = (Agency, AgencyCertificate)
_TABLES = {Agency.__table__, AgencyCertificate.__table__}
_CHANGED = "axis.registry_cache.changed"


def registry_changed() -> None:
    """The registry changed in this process: every cache forgets what it remembered."""
    global _changes
    _changes += 1


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, transaction: UOWTransaction) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(instance, _REGISTRY) for instance in touched):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and getattr(
        state.statement, "table", None
    ) in _TABLES:
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        registry_changed()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)


@dataclass(frozen=True)
class AgencyFacts:
    """What ingest needs to know of an agency."""

    code: str
    active: bool
    allow_sha1: bool
    unsigned_statuses: bool

    @classmethod
    def of(cls, agency: Agency) -> AgencyFacts:
        return cls(
            code=agency.code,
            active=agency.status is AgencyStatus.ACTIVE,
            allow_sha1=agency.allow_sha1,
            unsigned_statuses=agency.unsigned_statuses,
        )


class RegistryCache:
    """Agency facts and certificates, each read at most once per `ttl` seconds (a miss is
    read with the caller's session, so a message still costs one session at most)."""

    def __init__(self, ttl: float, capacity: int = 10_000) -> None:
        self._changes = _changes
        self._agencies: Expiring[str, AgencyFacts] = Expiring(ttl, capacity)
        self._certificates: Expiring[str, list[RegisteredCertificate]] = Expiring(ttl, capacity)

    async def agencies(self, session: AsyncSession, codes: Iterable[str]) -> dict[str, AgencyFacts]:
        """The registered agencies among `codes`, by code."""
        self._forget_if_changed()
        found: dict[str, AgencyFacts] = {}
        missing: set[str] = set()
        for code in codes:
            facts = self._agencies.get(code)
            if facts is not None:
                found[code] = facts
            else:
                missing.add(code)
        if missing:
            rows = await session.scalars(select(Agency).where(Agency.code.in_(missing)))
            for agency in rows:
                found[agency.code] = AgencyFacts.of(agency)
                self._agencies.remember(agency.code, found[agency.code])
        return found

    async def certificates(
        self, session: AsyncSession, agency_code: str
    ) -> list[RegisteredCertificate]:
        """The signing certificates registered for `agency_code`, parsed."""
        self._forget_if_changed()
        remembered = self._certificates.get(agency_code)
        if remembered is not None:
            return remembered
        rows = await session.scalars(
            select(AgencyCertificate).where(AgencyCertificate.agency_code == agency_code)
        )
        certificates = [
            RegisteredCertificate.from_pem(
                row.pem, not_before=row.not_before, not_after=row.not_after
            )
            for row in rows
        ]
        self._certificates.remember(agency_code, certificates)
        return certificates

    def forget_all(self) -> None:
        self._agencies.clear()
        self._certificates.clear()

    def _forget_if_changed(self) -> None:
        if self._changes != _changes:
            self.forget_all()
            self._changes = _changes
