"""What happens to a request before its handler reads it: the front door.

Every route's ASGI entry, before FastAPI's handler, so that a request costs the axis almost nothing
until it has shown who it is and been admitted:

1. two `Authorization` headers: 400 (which one counts would be a guess);
2. the matched route's declared requirement (`axis.api.auth.require`) is run on the
   headers alone: 401 or 403 before a byte of the body is read;
3. admission for the caller's agency (`axis.api.admission`): 429 with `Retry-After`;
4. the body is read through a guard: a JSON body (a route whose body FastAPI parses) is
   refused with 413 past `AXIS_JSON_BODY_LIMIT_BYTES`, as soon as the bytes say so or a
   `Content-Length` does; every body must arrive within `AXIS_BODY_TIMEOUT_SECONDS` (408).
   Routes that read their own body (envelopes) bound it themselves and are not buffered.

A route class rather than a middleware or a dependency: FastAPI's request handler reads and
parses the body before it solves any dependency, and only the route knows, before that,
which requirement it declares and whether FastAPI will parse its body; a middleware would
have to route the request a second time. Every router names the class
(`APIRouter(route_class=FrontDoorRoute)`; a test checks that none is left out), and keeps
declaring its roles as dependencies, so the OpenAPI description is unchanged. Refusals
here are counted (`axis.api.refusals`), never audited one by one; the answer closes a
connection whose body was not read.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from functools import cached_property

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from axis.api.admission import Admission, Refused
from axis.api.auth import PRINCIPAL, Requirement, authenticate_bearer, declared_requirement
from axis.api.problems import problem_response
from axis.api.refusals import RefusalLog
from axis.config import Settings
from axis.problem import Problem
from axis.rate_limit import RateLimiter


class BodyRefused(Exception):
    """The body guard refused the body; the front door answers with its problem."""


def too_many(refused: Refused) -> Problem:
    return Problem(
        429,
        "rate_limited",
        "Too many requests",
        refused.detail,
        headers={"Retry-After": RateLimiter.retry_after_header(refused.retry_after)},
    )


def too_large(limit: int) -> Problem:
    detail = f"the JSON body is larger than {limit} bytes"
    return Problem(413, "body_too_large", "Body too large", detail)


class _BodyGuard:
    """The `receive` of a request: its body within the deadline, and within `limit`."""

    def __init__(self, receive: Receive, limit: int | None, deadline: float, timeout: float):
        self.receive = receive
        self.limit = limit
        self.deadline = deadline
        self.timeout = timeout
        self.size = 0
        self.complete = False
        self.refusal: Problem | None = None

    async def __call__(self) -> Message:
        if self.complete:  # later calls wait for a disconnect: no deadline on those
            return await self.receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            detail = f"the body did not arrive within {self.timeout:g} s"
            problem = Problem(408, "request_timeout", "Request timeout", detail)
            raise self._refuse(problem) from None
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.limit is not None and self.size > self.limit:
                raise self._refuse(too_large(self.limit))
        return message

    def _refuse(self, problem: Problem) -> BodyRefused:
        self.refusal = problem
        return BodyRefused(problem.detail)


def _declares_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


class FrontDoorRoute(APIRoute):
    """The route class of every router (`APIRouter(route_class=FrontDoorRoute)`): its ASGI
    entry runs the front door, then the route as FastAPI built it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in (self.methods or ()):
            await super().handle(scope, receive, send)  # 405 and the like, as FastAPI does
            return
        axis: FastAPI = scope["app"]
        settings: Settings = axis.state.settings
        refusals: RefusalLog = axis.state.refusals
        headers = Headers(scope=scope)
        limit = settings.json_body_limit_bytes if self.body_field else None
        deadline = asyncio.get_running_loop().time() + settings.body_timeout_seconds
        agency_code: str | None = None
        try:
            if len(headers.getlist("authorization")) > 1:
                detail = "send one Authorization header, not several"
                raise Problem(400, "several_credentials", "Several credentials", detail)
            declared = headers.get("content-length", "")
            if limit is not None and declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
            key = None
            requirement = self.requirement
            if requirement is not None:
                principal = await authenticate_bearer(
                    axis.state.readers, axis.state.recent_tokens, headers
                )
                agency_code = principal.agency_code
                requirement.check(principal)
                scope[PRINCIPAL] = principal
                key = principal.agency_code or principal.token_id
            admission: Admission = axis.state.admission
            async with admission.admitted(key) if key else nullcontext():
                await self._guarded(scope, receive, send, limit, deadline, settings)
        except Refused as refused:
            await self._refuse(scope, send, headers, too_many(refused), agency_code, refusals)
        except Problem as problem:
            await self._refuse(scope, send, headers, problem, agency_code, refusals)

    @cached_property
    def requirement(self) -> Requirement | None:
        """Who may call this route, as its dependencies declare it."""
        return declared_requirement(self.dependant)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit: int | None,
        deadline: float,
        settings: Settings,
    ) -> None:
        """Run the app on the guarded body; when the guard refused the body, its problem is
        the answer, whatever the layers in between made of the exception."""
        body = _BodyGuard(receive, limit, deadline, settings.body_timeout_seconds)
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if body.refusal is not None and not started:
                raise BodyRefused(body.refusal.detail)  # whatever answer was made of it
            started = True
            await send(message)

        try:
            await super().handle(scope, body, watched_send)
        except BodyRefused:
            if body.refusal is None or started:
                raise
            raise body.refusal from None

    @staticmethod
    async def _refuse(
        scope: Scope,
        send: Send,
        headers: Headers,
        problem: Problem,
        agency_code: str | None,
        refusals: RefusalLog,
    ) -> None:
        refusals.note(agency_code, problem.code, problem.status)
        response = problem_response(problem)
        if _declares_body(headers):  # the body stays unread: this connection is done
            response.headers["Connection"] = "close"

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)
