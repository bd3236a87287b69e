"""The registry over HTTP on both databases: directory for all, changes for operators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from axis.app import create_app
from axis.config import Settings
from axis.credentials import create_token
from axis.storage.models import Agency, AgencyLevel, Role

COUNTRY = [
    {
        "code": "000.00.05.H26",
        "name": "UBND Quận Hoàn Kiếm",
        "level": "district",
        "parent_code": "000.00.00.H26",
    },
    {
        "code": "000.00.00.H26",
        "name": "UBND Thành phố Hà Nội",
        "level": "province",
        "delivery": {
            "kind": "push",
            "url": "https://dms.hanoi.example/edoc",
            "secret": "shared-with-hanoi-0123",
        },
    },
    {"code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "level": "central"},
]


@dataclass
class Axis:
    """A running axis app, an HTTP client to it, and one token per role."""

    client: httpx.AsyncClient
    tokens: dict[str, str]

    async def request(
        self, method: str, path: str, role: str | None, json: object = None
    ) -> httpx.Response:
        """`method path` with the token of `role` (None: no token at all)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return await self.client.request(method, path, headers=headers, json=json)


@pytest.fixture
async def axis(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Axis]:
    app = create_app(Settings(data_dir=tmp_path, database_url=migrated_database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://axis") as c,
    ):
        async with app.state.sessions.begin() as session:
            session.add(Agency(code="000.00.00.A01", name="Seed", level=AgencyLevel.CENTRAL))
            await session.flush()
            _, operator = await create_token(session, Role.OPERATOR)
            _, agency = await create_token(session, Role.AGENCY, "000.00.00.A01")
            _, auditor = await create_token(session, Role.AUDITOR)
        yield Axis(c, {"operator": operator, "agency": agency, "auditor": auditor})


async def test_operator_imports_a_country_and_everyone_reads_the_directory(
    axis: Axis,
) -> None:
    response = await axis.request("POST", "/v1/admin/agencies", "operator", json=COUNTRY)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 3, "updated": 0}

    for role in ("agency", "auditor", "operator"):
        listing = await axis.request("GET", "/v1/agencies", role)
        assert listing.status_code == 200
        assert [entry["code"] for entry in listing.json()] == [
            "000.00.00.A01",
            "000.00.00.G22",
            "000.00.00.H26",
            "000.00.05.H26",
        ]
    district = next(e for e in listing.json() if e["code"] == "000.00.05.H26")
    assert district == {
        "code": "000.00.05.H26",
        "name": "UBND Quận Hoàn Kiếm",
        "parent_code": "000.00.00.H26",
        "level": "district",
        "active": True,
        "certificate": None,
    }

    again = await axis.request("POST", "/v1/admin/agencies", "operator", json=COUNTRY)
    assert again.json() == {"created": 0, "updated": 3}

    hanoi = await axis.request("GET", "/v1/admin/agencies/000.00.00.H26", "operator")
    assert hanoi.json()["delivery"] == {  # the secret is write-only
        "kind": "push",
        "url": "https://dms.hanoi.example/edoc",
        "timeout_seconds": 30.0,
        "retry": {"max_attempts": 12, "max_age_seconds": 86400},
    }
    assert hanoi.json()["push_secret_set"] is True


async def test_operator_suspends_an_agency(axis: Axis) -> None:
    record = {"code": "000.00.00.A01", "name": "Seed", "level": "central", "status": "suspended"}
    response = await axis.request(
        "PUT", "/v1/admin/agencies/000.00.00.A01", "operator", json=record
    )
    assert response.status_code == 200, response.text
    [entry] = (await axis.request("GET", "/v1/agencies", "agency")).json()
    assert entry["active"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/admin/agencies", COUNTRY),
        ("GET", "/v1/admin/agencies/000.00.00.A01", None),
        ("PUT", "/v1/admin/agencies/000.00.00.A01", COUNTRY[2]),
    ],
)
async def test_only_operators_change_the_registry(
    axis: Axis, method: str, path: str, body: object
) -> None:
    for role in ("agency", "auditor"):
        response = await axis.request(method, path, role, json=body)
        assert response.status_code == 403
        assert response.json()["type"] == "urn:edoc-axis:problem:forbidden"
    anonymous = await axis.request(method, path, None, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = await axis.client.request(
        method, path, json=body, headers={"Authorization": "Bearer axt_x"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "urn:edoc-axis:problem:invalid_token"


async def test_bad_registry_changes_are_problems(axis: Axis) -> None:
    operator = "operator"
    orphan = [
        {"code": "000.01.05.H26", "name": "x", "level": "commune", "parent_code": "000.00.99.H26"}
    ]
    response = await axis.request("POST", "/v1/admin/agencies", operator, json=orphan)
    assert response.status_code == 422
    assert "parent 000.00.99.H26 is not registered" in response.json()["detail"]

    cycle = [
        {"code": "000.00.01.X01", "name": "a", "level": "district", "parent_code": "000.00.02.X01"},
        {"code": "000.00.02.X01", "name": "b", "level": "district", "parent_code": "000.00.01.X01"},
    ]
    response = await axis.request("POST", "/v1/admin/agencies", operator, json=cycle)
    assert response.status_code == 422
    assert "cycle" in response.json()["detail"]

    bad_url = [
        {
            "code": "000.00.00.B01",
            "name": "b",
            "level": "central",
            "delivery": {"kind": "push", "url": "not a url"},
        }
    ]
    response = await axis.request("POST", "/v1/admin/agencies", operator, json=bad_url)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any("url" in error["element"] for error in response.json()["errors"])

    missing = await axis.request("GET", "/v1/admin/agencies/000.00.00.Z99", operator)
    assert missing.status_code == 404
    mismatch = await axis.request(
        "PUT", "/v1/admin/agencies/000.00.00.A01", operator, json=COUNTRY[2]
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["type"] == "urn:edoc-axis:problem:code_mismatch"
    # Nothing of the refused imports was stored.
    listing = await axis.request("GET", "/v1/agencies", operator)
    assert [entry["code"] for entry in listing.json()] == ["000.00.00.A01"]
