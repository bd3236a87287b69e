"""The OpenAPI description tells the truth about errors: every operation lists the error
answers it can give, each an `application/problem+json` ProblemDetails (the VDXP operations:
the SDK's reply shape), and FastAPI's own 422 schema is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from axis.api.problems import MEDIA_TYPE, ProblemDetails
from axis.app import create_app
from axis.config import Settings
from axis.problem import Problem

PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
OPEN = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def description(tmp_path: Path) -> dict[str, Any]:
    return create_app(Settings(data_dir=tmp_path)).openapi()


def operations(description: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in description["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_documents_401_and_422_as_problems(description: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in operations(description):
        if path in OPEN or path.startswith("/vdxp/"):
            continue
        responses = operation["responses"]
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
        takes_input = operation.get("parameters") or operation.get("requestBody")
        assert ("422" in responses) == bool(takes_input), (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {MEDIA_TYPE: {"schema": PROBLEM}}, (path, status)
        for status in ("429", "503"):
            if status in responses:
                assert responses[status]["headers"]["Retry-After"]["required"], (path, status)
        checked += 1
    assert checked >= 25


def test_what_each_kind_of_operation_can_answer(description: dict[str, Any]) -> None:
    def statuses(method: str, path: str) -> set[str]:
        return set(description["paths"][path][method]["responses"])

    assert statuses("get", "/v1/agencies") == {"200", "401", "429"}
    assert statuses("get", "/v1/admin/agencies/{code}") == {
        "200", "401", "403", "404", "422", "429",
    }  # fmt: skip
    assert {"400", "403", "408", "409", "413", "422", "429", "503"} <= statuses(
        "post", "/v1/documents"
    )
    assert "404" in statuses("post", "/v1/statuses")
    assert "409" in statuses("post", "/v1/inbox/{delivery_id}/ack")
    assert "403" not in statuses("get", "/v1/documents")
    assert statuses("get", "/healthz") == {"200"}


def test_fastapi_validation_schema_is_replaced(description: dict[str, Any]) -> None:
    schemas = description["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "HTTPValidationError" not in str(description)
    assert set(schemas["ProblemDetails"]["required"]) == {"type", "title", "status", "detail"}


def test_vdxp_failures_keep_the_sdk_shape(description: dict[str, Any]) -> None:
    vdxp = [(m, p, o) for m, p, o in operations(description) if p.startswith("/vdxp/")]
    assert vdxp
    for _, path, operation in vdxp:
        failure = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert failure == {"$ref": "#/components/schemas/VdxpReply"}, path
    download = description["paths"]["/vdxp/downloadEdoc"]["post"]["responses"]["200"]
    assert list(download["content"]) == ["application/octet-stream"]


def test_problem_details_is_what_the_axis_sends() -> None:
    problem = Problem(
        422,
        "unknown_recipient",
        "Recipient not reachable",
        "cannot deliver to 000.00.00.X99",
        errors=[{"element": "To/OrganId", "value": "000.00.00.X99", "message": "unknown"}],
    )
    assert ProblemDetails.model_validate(problem.body()).model_dump(exclude_none=True) == (
        problem.body()
    )
    with pytest.raises(ValueError):
        ProblemDetails.model_validate({"type": problem.body()["type"], "status": 422})
