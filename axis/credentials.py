"""Bearer tokens: created once, shown once, stored only as a digest, revocable.

A token speaks for one principal: an agency (bound to one organisation code), an operator
or an auditor.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.events import Event, Origin
from axis.storage.models import Agency, ApiToken, Role, utcnow
from schemas.events import TokenChange

TOKEN_PREFIX = "axt_"


class CredentialError(Exception):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, the agency for an agency token, and the token's id."""

    role: Role
    agency_code: str | None
    token_id: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, role: Role, agency_code: str | None = None, label: str = ""
) -> tuple[ApiToken, str]:
    """A new token for `role` (and `agency_code` for an agency); the secret is returned once."""
    if (role is Role.AGENCY) != (agency_code is not None):
        raise CredentialError("an agency token needs an organisation code, and only it does")
    if agency_code is not None and await session.get(Agency, agency_code) is None:
        raise CredentialError(f"no agency is registered with code {agency_code}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(digest=token_digest(secret), role=role, agency_code=agency_code, label=label)
    session.add(token)
    await session.flush()
    return token, secret


async def revoke_token(session: AsyncSession, token_id: str) -> ApiToken:
    """Revoke a token for good; revoking twice keeps the first revocation time."""
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise CredentialError(f"no token has id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def token_event(change: type[TokenChange], token: ApiToken, origin: Origin) -> Event:
    """`token.created` or `token.revoked`: the token's id, role, agency and label, never
    its secret nor its digest."""
    payload = change(
        from_=origin.address,
        token_id=token.id,
        role=Role(token.role).value,
        label=token.label,
        revoked_at=token.revoked_at.isoformat() if token.revoked_at is not None else None,
    )
    return origin.event(payload, token.agency_code)


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.created_at))).all())


async def authenticate(session: AsyncSession, secret: str) -> Principal | None:
    """The principal a presented token speaks for; None if unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = await session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return Principal(token.role, token.agency_code, token.id)
