"""The tables on both databases: hierarchy, time zones, uniqueness, foreign keys, checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from axis.storage import (
    Agency,
    AgencyLevel,
    AgencyStatus,
    Document,
    create_session_factory,
)

HANOI = timezone(timedelta(hours=7))
SHA_A = "a" * 64
SHA_B = "b" * 64


def _hierarchy() -> list[Agency]:
    return [
        Agency(code="000.00.00.H26", name="UBND Thành phố Hà Nội", level=AgencyLevel.PROVINCE),
        Agency(
            code="000.00.05.H26",
            name="UBND Quận Hoàn Kiếm",
            level=AgencyLevel.DISTRICT,
            parent_code="000.00.00.H26",
        ),
        Agency(
            code="000.05.01.H26",
            name="UBND Phường Hàng Bạc",
            level=AgencyLevel.COMMUNE,
            parent_code="000.00.05.H26",
        ),
        Agency(code="000.00.00.G22", name="Văn phòng Chính phủ", level=AgencyLevel.CENTRAL),
    ]


async def _seed(session: AsyncSession) -> None:
    async with session.begin():
        session.add_all(_hierarchy())


def _document(**overrides: object) -> Document:
    values: dict[str, object] = {
        "sender_code": "000.00.00.G22",
        "edxml_document_id": "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "content_sha256": SHA_A,
        "size_bytes": 12_345,
        "certificate_fingerprint": "c" * 64,
        "receipt_sha256": "d" * 64,
        "transit_sha256": "e" * 64,
    }
    values.update(overrides)
    return Document(**values)


async def test_agency_hierarchy_and_document_round_trip(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    received = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=HANOI)
    async with sessions() as session:
        await _seed(session)
        async with session.begin():
            document = _document(received_at=received)
            session.add(document)
        document_id = document.id

    async with sessions() as session:
        district = (
            await session.execute(
                select(Agency)
                .where(Agency.code == "000.00.05.H26")
                .options(selectinload(Agency.parent), selectinload(Agency.children))
            )
        ).scalar_one()
        assert district.level is AgencyLevel.DISTRICT
        assert district.status is AgencyStatus.ACTIVE
        assert district.parent is not None and district.parent.code == "000.00.00.H26"
        assert [child.code for child in district.children] == ["000.05.01.H26"]
        assert district.name == "UBND Quận Hoàn Kiếm"
        assert district.created_at.tzinfo is UTC
        assert abs(datetime.now(UTC) - district.created_at) < timedelta(minutes=1)

        stored = await session.get(Document, document_id)
        assert stored is not None
        assert len(stored.id) == 36
        assert stored.received_at == received  # the same instant ...
        assert stored.received_at.tzinfo is UTC  # ... given back in UTC
        assert stored.received_at.hour == 1 and stored.received_at.microsecond == 123456


async def test_server_side_timestamps_come_back_aware(engine: AsyncEngine) -> None:
    """Rows written by plain SQL (no Python defaults) still read as aware UTC."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO agencies (code, name, level) VALUES ('000.00.00.A80', 'x', 'central')"
            )
        )
    async with create_session_factory(engine)() as session:
        agency = await session.get(Agency, "000.00.00.A80")
        assert agency is not None
        assert agency.status is AgencyStatus.ACTIVE
        assert agency.created_at.tzinfo is UTC
        assert abs(datetime.now(UTC) - agency.created_at) < timedelta(minutes=1)


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session:
        await _seed(session)
        session.add(_document(received_at=datetime(2026, 3, 1, 8, 30)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_updated_at_moves_on_update(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        await _seed(session)
        agency = await session.get(Agency, "000.00.00.G22")
        assert agency is not None
        before = agency.updated_at
        agency.status = AgencyStatus.SUSPENDED
        await session.commit()
        assert agency.updated_at > before
    async with sessions() as session:
        reread = await session.get(Agency, "000.00.00.G22")
        assert reread is not None and reread.status is AgencyStatus.SUSPENDED


async def test_one_document_id_per_sender(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        await _seed(session)
        async with session.begin():
            session.add(_document())
            # Another sender may use the same DocumentId.
            session.add(_document(sender_code="000.00.00.H26"))
    async with sessions() as session:
        # Same sender and DocumentId, other bytes: refused.
        session.add(_document(content_sha256=SHA_B))
        with pytest.raises(
            IntegrityError, match=r"(?i)unique|uq_documents_sender_code_edxml_document_id"
        ):
            await session.commit()


async def test_foreign_key_rejects_a_document_from_an_unknown_sender(engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session:
        await _seed(session)
        session.add(_document(sender_code="999.99.99.Z99"))
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            await session.commit()


async def test_foreign_key_rejects_an_unknown_parent(engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session:
        session.add(
            Agency(code="000.00.01.G22", name="x", level=AgencyLevel.PROVINCE, parent_code="nope")
        )
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            await session.commit()


async def test_check_constraints_hold_for_raw_sql(engine: AsyncEngine) -> None:
    """Enums and sizes are enforced by the database, not only by the ORM."""
    for statement in (
        "INSERT INTO agencies (code, name, level) VALUES ('000.00.00.X01', 'x', 'galaxy')",
        "INSERT INTO agencies (code, name, level, status) "
        "VALUES ('000.00.00.X02', 'x', 'central', 'gone')",
        "INSERT INTO agencies (code, name, level) VALUES ('', 'x', 'central')",
    ):
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(text(statement))


async def test_savepoint_rolls_back_only_the_failed_insert(engine: AsyncEngine) -> None:
    """`begin_nested()` works on both databases, so "insert unless already there" is safe."""
    sessions = create_session_factory(engine)
    async with sessions() as session:
        await _seed(session)
        async with session.begin():
            session.add(_document())
    async with sessions() as session:
        async with session.begin():
            with pytest.raises(IntegrityError):
                async with session.begin_nested():
                    session.add(_document())
            session.add(_document(edxml_document_id="another", content_sha256=SHA_B))
    async with sessions() as session:
        hashes = (await session.scalars(select(Document.content_sha256))).all()
        assert sorted(hashes) == [SHA_A, SHA_B]


async def test_rollback_undoes_everything_in_the_transaction(engine: AsyncEngine) -> None:
    """On SQLite too: the engine emits BEGIN itself, so nothing is silently autocommitted."""
    sessions = create_session_factory(engine)
    async with sessions() as session:
        await _seed(session)
        session.add(_document())
        await session.flush()
        await session.rollback()
    async with sessions() as session:
        assert (await session.scalars(select(Document))).all() == []
