"""The OpenAPI description as the axis behaves: every error answer an operation can give,
each with the `application/problem+json` schema the axis sends (and the VDXP operations'
failures in the SDK's reply shape).

FastAPI describes the successes; the errors are derived here, once, from what each route
is: a route that needs a principal answers 401 and 429, one that needs a role 403 as well,
one with a path parameter 404, one with parameters or a body 422, one with a body 400, 408
and 413, one that changes something 503 (the bus did not confirm). A route adds what only its
handler knows (a 409, a 400) as `responses={409: {"description": ...}}`: the content is
filled in here.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict
from starlette.routing import BaseRoute

from axis.api.auth import declared_requirement
from axis.api.problems import MEDIA_TYPE, ProblemDetails

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
VDXP_REF = {"$ref": "#/components/schemas/VdxpReply"}
VDXP_TAG = "vdxp"
VDXP_FAILURES = (400, 401, 403, 404, 408, 409, 413, 422, 429, 503)
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
WWW_AUTHENTICATE = {
    "description": "`Bearer`, the scheme to authenticate with",
    "required": True,
    "schema": {"type": "string"},
}
HEADERS = {
    401: {"WWW-Authenticate": WWW_AUTHENTICATE},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
DESCRIPTIONS = {
    400: "The body cannot be read (not UTF-8, not the media type it claims)",
    401: "No token, or one unknown or revoked",
    403: "The token's role or agency may not do this",
    404: "No such resource, or none this principal may see",
    408: "The body did not arrive within the deadline",
    413: "The body is larger than this operation takes",
    422: "A parameter or the body is refused: `errors` names each one",
    429: "Too many requests from this principal: retry after `Retry-After` seconds",
    503: "Nothing was done (the bus did not confirm, or the axis is full): retry after "
    "`Retry-After` seconds",
}


class VdxpReply(BaseModel):
    """A VDXP reply (`axis/vdxp/replies.py`): failures keep the SDK's shape, `ErrorCode`
    being the HTTP status."""

    model_config = ConfigDict(extra="allow")

    status: str
    ErrorCode: str
    ErrorDesc: str


def install_openapi(app: FastAPI) -> None:
    """Serve FastAPI's description with every error answer filled in (computed once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe_errors(schema: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    """`schema` with every APIRoute's error answers described, FastAPI's own 422 schema
    replaced by the problem one, and the bearer scheme declared."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["ProblemDetails"] = problem
    schemas["VdxpReply"] = VdxpReply.model_json_schema()
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "`axis tokens create`"}
    }
    for context in iter_route_contexts(routes):  # as FastAPI walks included routers
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][context.path_format][method.lower()]
            if VDXP_TAG in context.tags:
                _describe_vdxp(operation)
            else:
                _describe(operation, route, method)
    return schema


def _describe(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    guard = declared_requirement(route.dependant)
    takes_body = bool(route.body_field) or "requestBody" in (route.openapi_extra or {})
    statuses: set[int] = set()
    if guard is not None:
        operation["security"] = [{"bearer": []}]
        statuses |= {401, 429}
    if guard is not None and guard.roles is not None:
        statuses.add(403)
    dependant = route.dependant
    if dependant.path_params:
        statuses.add(404)
    if dependant.query_params or dependant.path_params or dependant.header_params or takes_body:
        statuses.add(422)
    if takes_body:
        statuses |= {400, 408, 413}
    if method != "GET" and guard is not None:
        statuses.add(503)
    responses = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for key, response in responses.items():
        if key.isdigit() and int(key) >= 400:
            _problem(response, int(key))


def _problem(response: dict[str, Any], status: int) -> None:
    """`response` as a problem document, with its headers (replacing FastAPI's 422 body)."""
    if response.get("description") == "Validation Error":  # FastAPI's
        response["description"] = DESCRIPTIONS[422]
    response["content"] = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
    if status in HEADERS:
        response.setdefault("headers", {}).update(HEADERS[status])


def _describe_vdxp(operation: dict[str, Any]) -> None:
    """A VDXP reply, success or failure, is JSON in the SDK's shape; `downloadEdoc`'s
    success is the document's bytes."""
    responses = operation.setdefault("responses", {})
    success: dict[str, Any] = {"application/json": {"schema": VDXP_REF}}
    if operation["operationId"].startswith("vdxp_downloadEdoc"):
        success = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    responses["200"]["content"] = success
    for status in VDXP_FAILURES:
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase + " (the SDK's shape, `status` FAIL)",
            "content": {"application/json": {"schema": VDXP_REF}},
        }
