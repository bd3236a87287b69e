"""Signing in and out, and the language switch: the console's public pages."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from axis.api.auth import current_principal
from axis.config import Settings
from axis.console import i18n
from axis.console.front_door import SIGN_IN_COOKIE, SIGN_IN_PATH, ConsoleRoute, safe_next
from axis.console.sessions import (
    COOKIE,
    COOKIE_PATH,
    clear_cookie,
    end_session,
    open_session,
    set_cookie,
)
from axis.console.templating import render, signed_in
from axis.credentials import authenticate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _sign_in_page(
    request: Request, next_path: str, *, message: str | None = None, refused: bool = False
) -> Response:
    """The sign-in form, with a fresh pre-session CSRF token in its cookie and its field."""
    settings: Settings = request.app.state.settings
    token = secrets.token_urlsafe(32)
    context = {
        "next": next_path,
        "message": message,
        "refused": refused,
        "sign_in_csrf": token,
        "hours": f"{settings.console_session_hours:g}",
    }
    response = render(request, "sign_in.html", context, status_code=401 if refused else 200)
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path=SIGN_IN_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get(SIGN_IN_PATH, name="sign_in")
async def sign_in_form(
    request: Request, next: str | None = None, ended: bool = False, signed_out: bool = False
) -> Response:
    """Paste a token (a sign-in link's `#token=` fragment is moved into the form)."""
    if signed_in(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    message = "session_ended" if ended else "signed_out" if signed_out else None
    return _sign_in_page(request, safe_next(next), message=message)


@router.post(SIGN_IN_PATH)
async def sign_in(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/ui/"
) -> Response:
    """The token checked as the API checks it; a session opened for its principal."""
    async with request.app.state.readers() as session:
        principal = await authenticate(session, token.strip())
    if principal is None:
        return _sign_in_page(request, safe_next(next), refused=True)
    settings: Settings = request.app.state.settings
    async with request.app.state.sessions.begin() as session:
        lifetime = timedelta(hours=settings.console_session_hours)
        session_id, opened = await open_session(session, principal, lifetime)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, session_id, opened)
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    return response


@router.post("/ui/sign-out", name="sign_out", dependencies=[Depends(current_principal)])
async def sign_out(request: Request) -> Response:
    await end_session(request.app.state.sessions, request.cookies[COOKIE])
    response = RedirectResponse(SIGN_IN_PATH + "?signed_out=1", status_code=303)
    clear_cookie(request, response)
    return response


@router.get("/ui/language/{lang}", name="language")
async def switch_language(request: Request, lang: str, next: str | None = None) -> Response:
    """Remember the language in a cookie, and go back to the page."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in i18n.TEXTS:
        response.set_cookie(
            i18n.COOKIE, lang, max_age=365 * 86_400, path=COOKIE_PATH, samesite="lax"
        )
    return response
