"""The agency directory (every principal) and the operators' registry API.

Every change is an audit event, published on the bus inside the change's transaction
(after the flush, before the commit), as ingest does: a change the bus cannot record is
not made (503), and an event whose change then fails to commit is possible but rare.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from axis.api.auth import current_principal, require
from axis.api.front_door import FrontDoorRoute
from axis.api.params import Text
from axis.bus import BusError
from axis.credentials import Principal
from axis.events import Origin, publish_events
from axis.problem import Problem
from axis.registry import (
    AgencyNotFound,
    AgencyRecord,
    AgencyView,
    CertificateRecord,
    DirectoryEntry,
    RegistryError,
    RegistryRules,
    VdxpCredentials,
    VdxpEnable,
    add_certificate,
    agency_counts,
    agency_events,
    agency_view,
    certificate_event,
    directory,
    disable_vdxp,
    enable_vdxp,
    get_agency,
    save_agencies,
)
from axis.storage.models import Role
from schemas.events import RegistryRefused

logger = logging.getLogger(__name__)

router = APIRouter(tags=["agencies"], route_class=FrontDoorRoute)
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
AnyPrincipal = Annotated[Principal, Depends(current_principal)]


def _registry_problem(exc: RegistryError) -> Problem:
    if isinstance(exc, AgencyNotFound):
        return Problem(404, "agency_not_found", "No such agency", str(exc))
    return Problem(422, "registry_error", "Registry change refused", str(exc))


def _rules(request: Request) -> RegistryRules:
    """The registry's checks as this axis is configured (settings, its own certificates)."""
    return RegistryRules.of(request.app.state.settings, request.app.state.ingest.identity)


def _origin(request: Request, principal: Principal) -> Origin:
    """The operator making a change, and the address it came from."""
    return Origin(f"operator:{principal.token_id}", request.client.host if request.client else None)


async def _refused(
    request: Request, principal: Principal, action: str, code: str | None, exc: RegistryError
) -> Problem:
    """The problem for a refused change, which is an audit event too (`registry.refused`):
    an operator's attempt counts as much as its success. Failing to record it must not hide
    the refusal."""
    problem = _registry_problem(exc)
    origin = _origin(request, principal)
    refused = RegistryRefused(
        from_=origin.address, action=action, status=problem.status, detail=problem.detail[:500]
    )
    event = origin.event(refused, code)
    try:
        await publish_events(request.app.state.bus, [event])
    except BusError:
        logger.exception("could not record a %s event", RegistryRefused.event_type)
    return problem


@router.get("/v1/agencies")
async def list_agencies(request: Request, principal: AnyPrincipal) -> list[DirectoryEntry]:
    """The directory of every registered agency, readable by any principal."""
    async with request.app.state.readers() as session:
        return await directory(session)


@router.post("/v1/admin/agencies")
async def import_agencies(
    request: Request, records: list[AgencyRecord], principal: Operator
) -> dict[str, int]:
    """Create or update agencies in one transaction (a whole country at once if need be)."""
    try:
        async with request.app.state.sessions.begin() as session:
            changes = await save_agencies(session, records, _rules(request))
            origin = _origin(request, principal)
            await publish_events(request.app.state.bus, agency_events(changes, origin))
            return agency_counts(changes)
    except RegistryError as exc:
        raise await _refused(request, principal, "import", None, exc) from exc


@router.get("/v1/admin/agencies/{code}")
async def read_agency(request: Request, code: Text, principal: Operator) -> AgencyView:
    """Everything the registry holds about one agency but its secrets (write-only)."""
    async with request.app.state.readers() as session:
        try:
            return agency_view(await get_agency(session, code))
        except RegistryError as exc:
            raise _registry_problem(exc) from exc


@router.put("/v1/admin/agencies/{code}")
async def replace_agency(
    request: Request, code: Text, record: AgencyRecord, principal: Operator
) -> AgencyView:
    """Replace one agency's registration (name, parent, status, delivery, flags); a push
    secret left out keeps the stored one. Answers what is now registered, secrets left out."""
    if record.code != code:
        raise Problem(
            422, "code_mismatch", "Code mismatch", f"the body is for {record.code}, not {code}"
        )
    try:
        async with request.app.state.sessions.begin() as session:
            await get_agency(session, code)
            changes = await save_agencies(session, [record], _rules(request))
            origin = _origin(request, principal)
            await publish_events(request.app.state.bus, agency_events(changes, origin))
            return agency_view(await get_agency(session, code))
    except RegistryError as exc:
        raise await _refused(request, principal, "replace", code, exc) from exc


@router.post("/v1/admin/agencies/{code}/certificates", status_code=201)
async def register_certificate(
    request: Request, code: Text, record: CertificateRecord, principal: Operator
) -> dict[str, str]:
    """Register a signing certificate for an agency; documents verify against these only."""
    try:
        async with request.app.state.sessions.begin() as session:
            certificate = await add_certificate(session, code, record, _rules(request))
            event = certificate_event(certificate, _origin(request, principal))
            await publish_events(request.app.state.bus, [event])
            return {"fingerprint_sha256": certificate.fingerprint_sha256}
    except RegistryError as exc:
        raise await _refused(request, principal, "certificate", code, exc) from exc


@router.post("/v1/admin/agencies/{code}/vdxp", status_code=201)
async def enable_vdxp_access(
    request: Request, code: Text, body: VdxpEnable, principal: Operator
) -> VdxpCredentials:
    """Enable the agency on the VDXP endpoints, or rotate its secret: the answer holds the
    `systemid` and secret for its SDK, shown this once."""
    try:
        async with request.app.state.sessions.begin() as session:
            credentials, change = await enable_vdxp(session, code, body.system_id)
            origin = _origin(request, principal)
            await publish_events(request.app.state.bus, agency_events([change], origin))
            return credentials
    except RegistryError as exc:
        raise await _refused(request, principal, "vdxp", code, exc) from exc


@router.delete("/v1/admin/agencies/{code}/vdxp")
async def disable_vdxp_access(request: Request, code: Text, principal: Operator) -> dict[str, str]:
    """Refuse the agency on the VDXP endpoints from now on (its /v1 tokens still work)."""
    try:
        async with request.app.state.sessions.begin() as session:
            change = await disable_vdxp(session, code)
            origin = _origin(request, principal)
            await publish_events(request.app.state.bus, agency_events([change], origin))
    except RegistryError as exc:
        raise await _refused(request, principal, "vdxp", code, exc) from exc
    return {"agency_code": code, "vdxp": "disabled"}
