"""Tokens on both databases: shown once, stored as a digest, bound to one principal."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.credentials import (
    CredentialError,
    Principal,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
    token_digest,
)
from axis.storage import Agency, AgencyLevel, ApiToken, Role, create_session_factory


async def test_token_lifecycle(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        session.add(Agency(code="000.00.00.G22", name="VPCP", level=AgencyLevel.CENTRAL))
    async with sessions.begin() as session:
        token, secret = await create_token(session, Role.AGENCY, "000.00.00.G22", "dms")
        operator, operator_secret = await create_token(session, Role.OPERATOR)

    async with sessions() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == token.id))
        assert stored is not None
        assert stored.digest == token_digest(secret) != secret
        assert await authenticate(session, secret) == Principal(
            Role.AGENCY, "000.00.00.G22", token.id
        )
        assert await authenticate(session, operator_secret) == Principal(
            Role.OPERATOR, None, operator.id
        )
        assert await authenticate(session, secret + "x") is None
        assert await authenticate(session, "not-a-token") is None
        assert [t.id for t in await list_tokens(session)] == [token.id, operator.id]

    async with sessions.begin() as session:
        revoked = await revoke_token(session, token.id)
        first_revocation = revoked.revoked_at
    async with sessions.begin() as session:
        assert (await revoke_token(session, token.id)).revoked_at == first_revocation
        assert await authenticate(session, secret) is None
        assert await authenticate(session, operator_secret) is not None


async def test_tokens_bind_to_exactly_the_right_principal(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        with pytest.raises(CredentialError, match="needs an organisation code"):
            await create_token(session, Role.AGENCY)
        with pytest.raises(CredentialError, match="only it does"):
            await create_token(session, Role.AUDITOR, "000.00.00.G22")
        with pytest.raises(CredentialError, match="no agency is registered"):
            await create_token(session, Role.AGENCY, "000.00.00.X99")
        with pytest.raises(CredentialError, match="no token has id"):
            await revoke_token(session, "missing")
