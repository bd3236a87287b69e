"""Signing in to the console, its sessions and its CSRF tokens, in process (no browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from running_axis import SENDER, Axis, start_axis
from sqlalchemy import select, update

from axis.config import Settings
from axis.credentials import revoke_token
from axis.storage.models import ConsoleSession, utcnow

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def axis(migrated_data_dir: Path) -> AsyncIterator[Axis]:
    async for running in start_axis(Settings(data_dir=migrated_data_dir, bus_partitions=1)):
        yield running


def console(axis: Axis, *, scheme: str = "http") -> httpx.AsyncClient:
    """A browser of its own (its own cookies) on `axis`."""
    transport = httpx.ASGITransport(app=axis.app)
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://axis")


async def sign_in(browser: httpx.AsyncClient, token: str, next_path: str = "/ui/") -> str:
    """Sign in as the sign-in page does; the CSRF token of the session's pages."""
    form = await browser.get("/ui/sign-in", params={"next": next_path})
    [csrf] = CSRF.findall(form.text)
    answer = await browser.post(
        "/ui/sign-in", data={"token": token, "csrf": csrf, "next": next_path}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_path
    [page_csrf] = CSRF.findall((await browser.get("/ui/")).text)
    return page_csrf


async def test_a_signed_out_request_is_sent_to_sign_in(axis: Axis) -> None:
    async with console(axis) as browser:
        answer = await browser.get("/ui/")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/sign-in?next=/ui/"
        assert (await browser.get("/ui/sign-in")).status_code == 200


async def test_a_session_cookie_is_http_only_strict_and_secure_under_tls(axis: Axis) -> None:
    for scheme, secure in (("http", False), ("https", True)):
        async with console(axis, scheme=scheme) as browser:
            form = await browser.get("/ui/sign-in")
            [csrf] = CSRF.findall(form.text)
            answer = await browser.post(
                "/ui/sign-in", data={"token": axis.tokens["operator"], "csrf": csrf}
            )
            cookie = next(
                value
                for name, value in answer.headers.multi_items()
                if name == "set-cookie" and value.startswith("axis_session=")
            )
            attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
            assert {"httponly", "max-age", "path"} <= attributes
            assert "SameSite=strict" in cookie and "Path=/ui" in cookie
            assert ("secure" in attributes) is secure
            assert "Max-Age=28800" in cookie  # AXIS_CONSOLE_SESSION_HOURS, 8 by default


async def test_only_a_digest_of_the_session_id_is_stored(axis: Axis) -> None:
    async with console(axis) as browser:
        await sign_in(browser, axis.tokens["auditor"])
        session_id = browser.cookies["axis_session"]
    async with axis.app.state.sessions() as session:
        rows = (await session.scalars(select(ConsoleSession))).all()
    assert [row.role.value for row in rows] == ["auditor"]
    assert session_id not in {rows[0].id_digest, rows[0].csrf_secret}


async def test_a_wrong_token_is_refused_and_opens_no_session(axis: Axis) -> None:
    async with console(axis) as browser:
        form = await browser.get("/ui/sign-in")
        [csrf] = CSRF.findall(form.text)
        answer = await browser.post("/ui/sign-in", data={"token": "axt_nope", "csrf": csrf})
        assert answer.status_code == 401
        assert "axis_session" not in browser.cookies
        assert (await browser.get("/ui/")).status_code == 303


async def test_sign_in_without_the_forms_csrf_token_is_refused(axis: Axis) -> None:
    async with console(axis) as browser:
        await browser.get("/ui/sign-in")
        answer = await browser.post("/ui/sign-in", data={"token": axis.tokens["operator"]})
        assert answer.status_code == 403
        assert "CSRF" in answer.text
        assert "axis_session" not in browser.cookies


async def test_sign_out_needs_the_csrf_token_then_ends_the_session(axis: Axis) -> None:
    async with console(axis) as browser:
        csrf = await sign_in(browser, axis.tokens["operator"])
        session_id = browser.cookies["axis_session"]
        refused = await browser.post("/ui/sign-out", data={"csrf": "forged"})
        assert refused.status_code == 403
        assert (await browser.get("/ui/")).status_code == 200
        answer = await browser.post("/ui/sign-out", data={"csrf": csrf})
        assert answer.status_code == 303
        assert (await browser.get("/ui/")).status_code == 303
    async with console(axis) as replayed:  # the old cookie is worth nothing now
        replayed.cookies.set("axis_session", session_id, path="/ui")
        assert (await replayed.get("/ui/")).status_code == 303


async def test_a_revoked_token_ends_its_sessions_at_the_next_request(axis: Axis) -> None:
    async with console(axis) as browser:
        await sign_in(browser, axis.tokens[SENDER])
        assert (await browser.get("/ui/")).status_code == 200
        async with axis.app.state.sessions.begin() as session:
            [row] = (await session.scalars(select(ConsoleSession))).all()
            await revoke_token(session, row.token_id)
        answer = await browser.get("/ui/")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/sign-in?next=/ui/&ended=1"
    async with axis.app.state.sessions() as session:
        assert (await session.scalars(select(ConsoleSession))).all() == []


async def test_an_expired_session_is_sent_to_sign_in(axis: Axis) -> None:
    async with console(axis) as browser:
        await sign_in(browser, axis.tokens["operator"])
        async with axis.app.state.sessions.begin() as session:
            expired = utcnow() - timedelta(seconds=1)
            await session.execute(update(ConsoleSession).values(expires_at=expired))
        answer = await browser.get("/ui/")
        assert answer.status_code == 303
        assert "ended=1" in answer.headers["location"]


async def test_sign_in_goes_only_to_a_console_page(axis: Axis) -> None:
    async with console(axis) as browser:
        await sign_in(browser, axis.tokens["operator"])
        for next_path in ("https://evil.example/", "//evil.example/ui/", "/v1/documents"):
            answer = await browser.get("/ui/sign-in", params={"next": next_path})
            assert answer.headers["location"] == "/ui/"


async def test_pages_speak_vietnamese_by_default_and_english_when_asked(axis: Axis) -> None:
    async with console(axis) as browser:
        assert "Đăng nhập" in (await browser.get("/ui/sign-in")).text
        english = await browser.get("/ui/sign-in", headers={"Accept-Language": "en-GB,vi;q=0.5"})
        assert "Sign in" in english.text and "Đăng nhập" not in english.text
        switched = await browser.get("/ui/language/en", params={"next": "/ui/sign-in"})
        assert switched.headers["location"] == "/ui/sign-in"
        assert "Sign in to the console" in (await browser.get("/ui/sign-in")).text


async def test_the_console_inherits_the_apis_request_limits(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        bus_partitions=1,
        agency_rate_per_second=0.01,
        agency_rate_burst=3,
        admission_wait_seconds=0,
    )
    async for axis in start_axis(settings):
        async with console(axis) as browser:
            await sign_in(browser, axis.tokens[SENDER])  # the home page: one request
            answers = [(await browser.get("/ui/")).status_code for _ in range(3)]
            assert answers[-1] == 429
            refused = await browser.get("/ui/")
            assert refused.status_code == 429 and "Retry-After" in refused.headers
            assert "Quá nhiều yêu cầu" in refused.text
        [summary] = axis.app.state.refusals.summary()  # counted, as the API's refusals are
        assert (summary.agency_code, summary.data["count"]) == (SENDER, 2)
