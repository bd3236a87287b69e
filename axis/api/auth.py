"""Who is calling: the bearer token becomes a `Principal`, or the request is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from axis.credentials import Principal, authenticate
from axis.problem import Problem
from axis.storage.models import Role

UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="edoc-axis"'}


async def current_principal(request: Request) -> Principal:
    """The principal of the request's `Authorization: Bearer` token; 401 otherwise."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(
            401,
            "unauthenticated",
            "Authentication required",
            "send an API token as `Authorization: Bearer <token>`",
            headers=UNAUTHENTICATED,
        )
    async with request.app.state.sessions() as session:
        principal = await authenticate(session, secret.strip())
    if principal is None:
        raise Problem(
            401,
            "invalid_token",
            "Invalid token",
            "the token is unknown or has been revoked",
            headers=UNAUTHENTICATED,
        )
    return principal


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits only `roles` (403 for any other authenticated principal)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Problem(403, "forbidden", "Forbidden", f"this needs the role {allowed}")
        return principal

    return dependency
