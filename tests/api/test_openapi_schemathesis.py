"""Schemathesis against the real axis on the embedded bus, served over loopback HTTP: for
every operation of the OpenAPI description, generated requests (valid and invalid) with the
token of a principal allowed to make them, and every answer checked: no 5xx, a status the
description lists, its content type, body schema and headers; invalid input refused with 4xx.

Bounded: `MAX_EXAMPLES` per operation and phase, derandomized so that a run is repeatable.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from push_endpoint import free_port, serving
from running_axis import SENDER, start_axis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from axis.app import create_app
from axis.config import Settings

MAX_EXAMPLES = 16
START_DEADLINE = 60.0


def invalid_parameters_refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Schemathesis's `negative_data_rejection` for query and path parameters: each is
    checked by its model (axis/api/params.py). Left out: cases that negate a header (the
    only one declared is `Authorization`, which this test sets itself) and JSON bodies
    (their models read `0` as `false` and `"1"` as `1`, as pydantic does by default)."""
    if case.meta is not None:
        data = case.meta.phase.data
        negated = {data.parameter_location} | {m.parameter_location for m in data.mutations}
        if negated & {ParameterLocation.BODY, ParameterLocation.HEADER}:
            return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    invalid_parameters_refused,
]
AUDITORS_ONLY = {"/v1/audit/tree", "/v1/audit/proofs/consistency", "/v1/audit/export"}
RAW_BODIES = {"/v1/documents", "/v1/statuses"}
"""The edXML sending operations: their bodies are the pipeline's to refuse (tests/edxml,
tests/hostile); here their headers, authentication and answers are checked."""


@dataclass
class ServedAxis:
    """The axis of `start_axis` served by uvicorn on loopback, in a thread of its own (with
    its own event loop) so that Schemathesis's blocking client can call it."""

    settings: Settings
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    cases: int = 0
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async for axis in start_axis(self.settings):
            async with serving(axis.app, free_port()) as url:
                self.url, self.tokens = url.rstrip("/"), axis.tokens
                self._ready.set()
                await self._stop.wait()

    def wait_ready(self) -> None:
        assert self._ready.wait(START_DEADLINE), "the axis did not start in time"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAxis]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    axis = ServedAxis(Settings(data_dir=data_dir, bus_partitions=2))
    thread = threading.Thread(target=axis.run, name="served-axis", daemon=True)
    thread.start()
    axis.wait_ready()
    yield axis
    axis.stop()
    thread.join(START_DEADLINE)
    assert not thread.is_alive(), "the axis did not stop in time"
    print(f"\nSchemathesis: {axis.cases} cases")


# The description is the app's own, which needs no bus or database to compute; the served
# axis is the same app.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


def principal_for(path: str) -> str:
    """A principal the operation admits: operators for /admin, auditors for the proofs and
    exports only they read, an agency for the rest (its own operations and everyone's)."""
    if path.startswith("/v1/admin/"):
        return "operator"
    if path in AUDITORS_ONLY:
        return "auditor"
    return SENDER


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_its_description(case: Any, served: ServedAxis) -> None:
    path = case.operation.path
    if case.method == "POST" and path in RAW_BODIES:
        case.body = b"<not-edxml/>"
        case.media_type = "application/xml"
    token = served.tokens[principal_for(path)]
    served.cases += 1
    case.call_and_validate(
        base_url=served.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
