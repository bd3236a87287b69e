"""Ingest's registry cache: remembered for its ttl, forgotten at once by a change committed
by a session of this process."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.registry_cache import RegistryCache, registry_changed
from axis.storage.database import create_session_factory
from axis.storage.models import Agency, AgencyLevel, AgencyStatus

CODE = "000.00.00.G22"


async def test_facts_are_remembered_until_a_change_here(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        session.add(Agency(code=CODE, name="G22", level=AgencyLevel.PROVINCE))
    cache = RegistryCache(ttl=3600)
    async with sessions() as session:
        assert (await cache.agencies(session, [CODE, "000.00.00.Z99"]))[CODE].active
        assert await cache.certificates(session, CODE) == []
    async with engine.begin() as connection:  # as another process would: not seen here
        await connection.execute(
            update(Agency).where(Agency.code == CODE).values(status=AgencyStatus.SUSPENDED)
        )
    async with sessions() as session:
        assert (await cache.agencies(session, [CODE]))[CODE].active
    registry_changed()
    async with sessions() as session:
        assert not (await cache.agencies(session, [CODE]))[CODE].active

    async with sessions.begin() as session:  # a session of this process: forgotten at once
        agency = await session.get(Agency, CODE)
        assert agency is not None
        agency.status = AgencyStatus.ACTIVE
    async with sessions() as session:
        assert (await cache.agencies(session, [CODE]))[CODE].active
    async with sessions.begin() as session:  # a statement, not an object: the same
        await session.execute(
            update(Agency).where(Agency.code == CODE).values(status=AgencyStatus.SUSPENDED)
        )
    async with sessions() as session:
        assert not (await cache.agencies(session, [CODE]))[CODE].active


async def test_nothing_is_remembered_with_no_ttl(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        session.add(Agency(code=CODE, name="G22", level=AgencyLevel.PROVINCE))
    cache = RegistryCache(ttl=0)
    async with sessions() as session:
        assert (await cache.agencies(session, [CODE]))[CODE].active
    async with engine.begin() as connection:
        await connection.execute(
            update(Agency).where(Agency.code == CODE).values(status=AgencyStatus.SUSPENDED)
        )
    async with sessions() as session:
        assert not (await cache.agencies(session, [CODE]))[CODE].active
