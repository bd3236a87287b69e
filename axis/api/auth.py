"""Who is calling: the bearer token becomes a `Principal`, or the request is refused.

A route declares who may call it once, as a dependency: `Depends(require(Role.AGENCY))`,
or `Depends(current_principal)` for any principal. The front door (`axis/api/front_door.py`)
finds that declaration on the matched route and runs it before the body is read; the
dependency then only hands the handler the principal the front door established.

(No `from __future__ import annotations` here: FastAPI reads `Requirement.__call__`'s
annotations at runtime, and an instance has no module globals to resolve strings in.)
"""

from collections.abc import Iterable

from fastapi import Request
from fastapi.dependencies.models import Dependant
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers

from axis.api.recent_tokens import RecentTokens
from axis.credentials import Principal, authenticate, token_digest
from axis.problem import Problem
from axis.storage.models import Role

UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="edoc-axis"'}
PRINCIPAL = "axis.principal"
"""The scope key under which the front door leaves the authenticated caller."""


async def authenticate_bearer(
    sessions: async_sessionmaker[AsyncSession], recent: RecentTokens, headers: Headers
) -> Principal:
    """The principal of the `Authorization: Bearer` token in `headers` (remembered for a
    moment in `recent`); 401 otherwise."""
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(
            401,
            "unauthenticated",
            "Authentication required",
            "send an API token as `Authorization: Bearer <token>`",
            headers=UNAUTHENTICATED,
        )
    digest = token_digest(secret.strip())
    principal = recent.get(digest)
    if principal is None:
        async with sessions() as session:
            principal = await authenticate(session, secret.strip())
        if principal is not None:
            recent.remember(digest, principal)
    if principal is None:
        raise Problem(
            401,
            "invalid_token",
            "Invalid token",
            "the token is unknown or has been revoked",
            headers=UNAUTHENTICATED,
        )
    return principal


class Requirement:
    """A route's dependency naming the roles that may call it (None: any principal)."""

    def __init__(self, roles: Iterable[Role] | None) -> None:
        self.roles = None if roles is None else frozenset(roles)

    def check(self, principal: Principal) -> None:
        """403 for an authenticated principal without one of the roles."""
        if self.roles is not None and principal.role not in self.roles:
            allowed = ", ".join(sorted(role.value for role in self.roles))
            raise Problem(403, "forbidden", "Forbidden", f"this needs the role {allowed}")

    async def __call__(self, request: Request) -> Principal:
        principal = request.scope.get(PRINCIPAL)
        if not isinstance(principal, Principal):  # an app without the front door
            state = request.app.state
            principal = await authenticate_bearer(
                state.readers, state.recent_tokens, request.headers
            )
            self.check(principal)
        return principal


current_principal = Requirement(None)
"""Any authenticated principal."""


def require(*roles: Role) -> Requirement:
    """Admit only `roles` (403 for any other authenticated principal)."""
    return Requirement(roles)


def declared_requirement(dependant: Dependant) -> Requirement | None:
    """The route's declared `Requirement`, however deep among its dependencies."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Requirement):
            return dependency.call
        found = declared_requirement(dependency)
        if found is not None:
            return found
    return None
