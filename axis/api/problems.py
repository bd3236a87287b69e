"""Every 4xx answer is an RFC 9457 problem (`application/problem+json`) naming what was wrong.

Routers and the pipeline raise `axis.problem.Problem`; routing errors (404, 405),
request validation errors, an unavailable bus (503) and, should a bug slip through, any
other exception (500) are turned into problems here too, so no client ever has to parse two
error formats.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from axis.bus import BusError
from axis.problem import Problem
from axis.storage.space import disk_full, is_disk_full

MEDIA_TYPE = "application/problem+json"


class ProblemError(BaseModel):
    """One fault: where (`element`, and `line` in the received bytes) and what."""

    model_config = ConfigDict(extra="allow")

    element: str | None = None
    line: int | None = None
    message: str


class ProblemDetails(BaseModel):
    """What every error answer holds (RFC 9457): the OpenAPI description's schema for them.
    Other members may be added (RFC 9457 extensions), which clients ignore."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:edoc-axis:problem:invalid_request",
                    "title": "Invalid request",
                    "status": 422,
                    "detail": "the request does not match what this endpoint accepts",
                    "errors": [
                        {"element": "query.since", "message": "Input should have timezone info"}
                    ],
                }
            ]
        },
    )

    type: str
    """`urn:edoc-axis:problem:<code>`, a stable code to branch on."""
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None
    """The individual faults, where there are several or a place to name."""


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = HTTPStatus(exc.status_code).phrase.capitalize()  # "Bad request": a body not JSON
    code = title.lower().replace(" ", "_").replace("-", "_")
    return problem_response(
        Problem(exc.status_code, code, title, str(exc.detail), headers=exc.headers)
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"element": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    return problem_response(
        Problem(
            422,
            "invalid_request",
            "Invalid request",
            "the request does not match what this endpoint accepts",
            errors=errors,
        )
    )


async def _on_bus_error(request: Request, exc: Exception) -> JSONResponse:
    """Nothing was accepted; the client may send the same bytes again safely."""
    if is_disk_full(exc.__cause__):
        return problem_response(disk_full())
    return problem_response(
        Problem(
            503,
            "bus_unavailable",
            "Service unavailable",
            "the message bus did not confirm in time; nothing was accepted, send it again",
            headers={"Retry-After": "5"},
        )
    )


async def _on_disk_full(request: Request, exc: Exception) -> JSONResponse:
    """A write that found the disk full after all (the space check is racy) is a 503 too;
    any other error of these types stays the 500 it is."""
    if not is_disk_full(exc):
        raise exc
    return problem_response(disk_full())


async def _on_client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client closed its connection before its body was complete: not a failure of the
    axis, nothing to log with a stack (the answer goes nowhere; it keeps the handler total)."""
    return problem_response(
        Problem(400, "client_disconnected", "Client disconnected", "the body was cut short")
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug, not an input: answered without its stack (Starlette raises the exception on
    after this answer, for the server to log with its stack)."""
    return problem_response(
        Problem(500, "internal_error", "Internal error", "the axis failed; it has been logged")
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error answer of `app` a problem document."""
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_exception_handler(ClientDisconnect, _on_client_gone)
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(BusError, _on_bus_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(OSError, _on_disk_full)
    app.add_exception_handler(DBAPIError, _on_disk_full)
