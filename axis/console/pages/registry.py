"""The registry as an operator sees it: agencies with their delivery settings (secrets are
write-only: only whether one is set), certificates with the days they have left, and API
tokens, created (the secret shown once, on the page that answers the creation, never again)
and revoked here. Changes are the credentials module's and are audited as the command line
records them (`token.created`, `token.revoked`, published in the change's transaction), as
`operator:<token id>` from the operator's address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from axis.api.auth import require
from axis.bus import BusError
from axis.console.front_door import ConsoleRoute, operator_origin
from axis.console.templating import render
from axis.credentials import CredentialError, create_token, list_tokens, revoke_token, token_event
from axis.events import publish_events
from axis.registry import agency_view
from axis.storage.models import Agency, AgencyCertificate, Role, utcnow
from schemas.events import TokenCreated, TokenRevoked

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
operator = [Depends(require(Role.OPERATOR))]


async def _page(
    request: Request,
    *,
    created: tuple[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    async with request.app.state.readers() as session:
        agencies = [
            agency_view(row) for row in await session.scalars(select(Agency).order_by(Agency.code))
        ]
        certificates = list(
            await session.scalars(
                select(AgencyCertificate).order_by(
                    AgencyCertificate.agency_code, AgencyCertificate.not_after
                )
            )
        )
        tokens = await list_tokens(session)
    context = {
        "agencies": agencies,
        "certificates": certificates,
        "now": utcnow(),
        "tokens": tokens,
        "roles": [role.value for role in Role],
        "created": created,
        "error": error,
    }
    return render(request, "registry.html", context, status_code=status_code)


@router.get("/ui/registry", name="registry", dependencies=operator)
async def registry(request: Request) -> Response:
    return await _page(request)


@router.post("/ui/registry/tokens", name="create_token", dependencies=operator)
async def create(
    request: Request,
    role: Annotated[str, Form()],
    agency: Annotated[str, Form()] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create a token; this answer is the only place its secret is ever shown."""
    try:
        chosen = Role(role)
        async with request.app.state.sessions.begin() as session:
            token, secret = await create_token(session, chosen, agency.strip() or None, label)
            event = token_event(TokenCreated, token, operator_origin(request))
            await publish_events(request.app.state.bus, [event])
    except (ValueError, CredentialError, BusError) as exc:
        return await _page(request, error=str(exc), status_code=422)
    return await _page(request, created=(token.id, secret))


@router.post("/ui/registry/tokens/{token_id}/revoke", name="revoke_token", dependencies=operator)
async def revoke(request: Request, token_id: str) -> Response:
    try:
        async with request.app.state.sessions.begin() as session:
            token = await revoke_token(session, token_id[:64])
            if session.is_modified(token):  # not revoked before
                event = token_event(TokenRevoked, token, operator_origin(request))
                await publish_events(request.app.state.bus, [event])
    except (CredentialError, BusError) as exc:
        return await _page(request, error=str(exc), status_code=422)
    request.app.state.recent_tokens.forget_all()  # refused from the next request on
    return RedirectResponse(request.app.url_path_for("registry") + "#tokens", status_code=303)
