"""Console sessions: an API token pasted once becomes a server-side session.

The browser holds only a random session id in a cookie (`HttpOnly; SameSite=Strict;
Path=/ui`, `Secure` over https); the database holds its SHA-256, the token it was opened
with, the principal's role and agency, a CSRF secret and an expiry
(`AXIS_CONSOLE_SESSION_HOURS`). Each request looks the session up together with its token,
so revoking the token ends its sessions at their next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from axis.credentials import Principal
from axis.storage.models import ApiToken, ConsoleSession, utcnow

COOKIE = "axis_session"
COOKIE_PATH = "/ui"


@dataclass(frozen=True)
class SignedIn:
    """The session of a request: who it speaks for and the CSRF token its forms carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime
    id_digest: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(
    session: AsyncSession, principal: Principal, lifetime: timedelta
) -> tuple[str, SignedIn]:
    """A new session for `principal`; returns the id for the cookie (never stored)."""
    now = utcnow()
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id_digest=_digest(session_id),
        token_id=principal.token_id,
        role=principal.role,
        agency_code=principal.agency_code,
        csrf_secret=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return session_id, SignedIn(principal, row.csrf_secret, row.expires_at, row.id_digest)


async def find_session(
    readers: async_sessionmaker[AsyncSession], session_id: str | None
) -> tuple[SignedIn | None, bool]:
    """The live session of `session_id`, and whether a stored one has ended (expired, or its
    token revoked) and should be removed."""
    if not session_id:
        return None, False
    async with readers() as session:
        found = (
            await session.execute(
                select(ConsoleSession, ApiToken.revoked_at)
                .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
                .where(ConsoleSession.id_digest == _digest(session_id))
            )
        ).first()
    if found is None:
        return None, False
    row, revoked_at = found
    if revoked_at is not None or row.expires_at <= utcnow():
        return None, True
    principal = Principal(row.role, row.agency_code, row.token_id)
    return SignedIn(principal, row.csrf_secret, row.expires_at, row.id_digest), False


async def end_session(sessions: async_sessionmaker[AsyncSession], session_id: str) -> None:
    async with sessions.begin() as session:
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.id_digest == _digest(session_id))
        )


def set_cookie(request: Request, response: Response, session_id: str, signed_in: SignedIn) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=round((signed_in.expires_at - utcnow()).total_seconds()),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
