"""What happens to a console request before its page handler runs: the console's front door.

Like the API's (`axis/api/front_door.py`), it is the route class of every console router
(`APIRouter(route_class=ConsoleRoute)`), and a page declares who may open it the same way,
as a dependency: `Depends(require(Role.OPERATOR))`, `Depends(current_principal)` for anyone
signed in, nothing for a public page (sign-in). Before the handler:

1. the session is found from its cookie (`axis/console/sessions.py`); one that expired, or
   whose token was revoked, is deleted;
2. a page that declares a requirement: signed out, the browser is sent to sign-in (303,
   with `next`); signed in with another role, a 403 page (`Requirement.check`, the API's);
3. admission for the caller's agency, or token, as at the API's front door
   (`app.state.admission`): a console inherits the request limits (429 page). The place is
   held until the answer starts, so a live stream holds none;
4. a POST must carry the CSRF token (the form field `csrf`, or the `X-CSRF-Token` header):
   the session's; signing in, before there is a session, the one the sign-in page set in
   its cookie. Checked with `hmac.compare_digest`, refused with a 403 page. The form body
   is bounded like a JSON body (`AXIS_JSON_BODY_LIMIT_BYTES`, `AXIS_BODY_TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import asyncio
import hmac
from contextlib import AsyncExitStack
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Message, Receive, Scope, Send

from axis.api.admission import Admission, Refused
from axis.api.auth import PRINCIPAL
from axis.api.front_door import FrontDoorRoute
from axis.api.refusals import RefusalLog
from axis.config import Settings
from axis.console.sessions import COOKIE, SignedIn, clear_cookie, end_session, find_session
from axis.console.templating import SIGNED_IN, refusal
from axis.events import Origin
from axis.problem import Problem
from axis.rate_limit import RateLimiter

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SIGN_IN_COOKIE = "axis_sign_in"
"""The CSRF token of the sign-in form, before there is a session to hold one."""
SIGN_IN_PATH = "/ui/sign-in"


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def safe_next(path: str | None) -> str:
    """`path` if it is a console page of this site (no open redirect), else the home page."""
    if path and path.startswith("/ui/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/ui/"


class ConsoleRoute(FrontDoorRoute):
    """The route class of every console router."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in (self.methods or ()):
            await APIRoute.handle(self, scope, receive, send)
            return
        request = Request(scope)
        app = scope["app"]
        settings: Settings = app.state.settings
        cookie = request.cookies.get(COOKIE)
        found, ended = await find_session(app.state.readers, cookie)
        if ended and cookie:
            await end_session(app.state.sessions, cookie)
        if found is not None:
            scope[SIGNED_IN] = found
        try:
            key = None
            requirement = self.requirement
            if requirement is not None:
                if found is None:
                    raise _Refusal(self._to_sign_in(request, ended))
                try:
                    requirement.check(found.principal)
                except Problem:
                    roles = ", ".join(sorted(r.value for r in requirement.roles or ()))
                    page = refusal(request, 403, "forbidden_title", "forbidden_detail", roles=roles)
                    raise _Refusal(page) from None
                scope[PRINCIPAL] = found.principal
                key = found.principal.agency_code or found.principal.token_id
            async with AsyncExitStack() as admitted:
                if key is not None and found is not None:
                    await self._admit(request, admitted, key, found.principal.agency_code)
                if scope["method"] == "POST":
                    if self.path == SIGN_IN_PATH:  # signing in: before any session
                        expected = request.cookies.get(SIGN_IN_COOKIE)
                    else:
                        expected = found.csrf_token if found else None
                    receive = await self._checked_form(request, receive, expected, settings)

                async def send_releasing(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        await admitted.aclose()  # the answer has started: free the place
                    await send(message)

                await APIRoute.handle(self, scope, receive, send_releasing)
        except _Refusal as refused:
            await refused.response(scope, receive, send)

    @staticmethod
    def _to_sign_in(request: Request, ended: bool) -> Response:
        target = SIGN_IN_PATH + "?next=" + quote(request.url.path, safe="/")
        if ended:
            target += "&ended=1"
        response = RedirectResponse(target, status_code=303)
        if ended:
            clear_cookie(request, response)
        return response

    @staticmethod
    async def _admit(
        request: Request, stack: AsyncExitStack, key: str, agency_code: str | None
    ) -> None:
        admission: Admission = request.app.state.admission
        try:
            await stack.enter_async_context(admission.admitted(key))
        except Refused as refused:
            refusals: RefusalLog = request.app.state.refusals
            refusals.note(agency_code, "rate_limited", 429)  # summarised as the API's are
            retry = RateLimiter.retry_after_header(refused.retry_after)
            page = refusal(
                request,
                429,
                "too_many_title",
                "too_many_detail",
                headers={"Retry-After": retry},
                seconds=retry,
            )
            raise _Refusal(page) from None

    @staticmethod
    async def _checked_form(
        request: Request, receive: Receive, expected: str | None, settings: Settings
    ) -> Receive:
        """Read the bounded body, check its CSRF token; a `receive` that replays the body."""
        body = await _read_body(request, receive, settings)

        def replay() -> Receive:
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive_again() -> Message:
                return messages.pop() if messages else await receive()

            return receive_again

        presented = request.headers.get(CSRF_HEADER)
        if presented is None and body:
            form = await Request(request.scope, replay()).form()
            field = form.get(CSRF_FIELD)
            presented = field if isinstance(field, str) else None
            await form.close()
        if not (expected and presented and hmac.compare_digest(presented, expected)):
            raise _Refusal(refusal(request, 403, "csrf_title", "csrf_detail"))
        return replay()


async def _read_body(request: Request, receive: Receive, settings: Settings) -> bytes:
    limit = settings.json_body_limit_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(request, limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise _Refusal(refusal(request, 408, "timeout_title", "timeout_detail")) from None
    return b"".join(chunks)


def _too_large(request: Request, limit: int) -> _Refusal:
    page = refusal(request, 413, "too_large_title", "too_large_detail", limit=limit)
    page.headers["Connection"] = "close"  # the rest of the body stays unread
    return _Refusal(page)


def operator_origin(request: Request) -> Origin:
    """The signed-in operator behind a change, and the address it came from, named as the
    API's audit events name them (`operator:<token id>`)."""
    found = request.scope.get(SIGNED_IN)
    assert isinstance(found, SignedIn)  # the front door admitted the page's role
    address = request.client.host if request.client else None
    return Origin(f"operator:{found.principal.token_id}", address)
