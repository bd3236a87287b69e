"""The front door: who is calling, whether it is admitted, and how much and how long it may
send, all settled before a handler reads the body.

In-process tests run the app on the embedded bus; the memory, deadline and flood tests run
against a real `axis serve` process (its RSS read from /proc, its sockets on loopback).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from running_axis import OTHER, RECIPIENT, SENDER, Axis, start_axis
from served_axis import register, served_axis
from starlette.routing import BaseRoute

from axis.api.front_door import FrontDoorRoute
from axis.config import Settings

JSON_LIMIT = 4096
BODY_TIMEOUT = 1.5
ACK = "/v1/inbox/no-such-delivery/ack"
PROBLEM = "application/problem+json"


@pytest.fixture
async def axis(migrated_data_dir: Path) -> AsyncIterator[Axis]:
    settings = Settings(
        data_dir=migrated_data_dir,
        bus_partitions=2,
        json_body_limit_bytes=JSON_LIMIT,
        body_timeout_seconds=BODY_TIMEOUT,
        refusal_summary_seconds=0.2,
    )
    async for running in start_axis(settings):
        yield running


class CountingBody:
    """A request body streamed from a generator that counts how much of it was pulled."""

    def __init__(self, chunk: bytes, chunks: int, *, stall_after: int | None = None) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.stall_after = stall_after
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            if self.pulled == self.stall_after:
                await asyncio.Event().wait()  # a client that stops sending
            self.pulled += 1
            yield self.chunk


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else [route]


async def test_every_api_route_goes_through_the_front_door(axis: Axis) -> None:
    api_routes = [route for route in _routes(axis.app.router.routes) if isinstance(route, APIRoute)]
    assert len(api_routes) > 30
    assert [r.path for r in api_routes if not isinstance(r, FrontDoorRoute)] == []


async def test_an_unauthenticated_body_is_refused_before_it_is_read(axis: Axis) -> None:
    body = CountingBody(b"x" * 65536, 1600)  # 100 MiB, never held
    answer = await axis.client.post(ACK, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "urn:edoc-axis:problem:unauthenticated"
    assert answer.headers["connection"] == "close"
    assert body.pulled == 0


async def test_the_wrong_role_is_refused_before_the_body_is_read(axis: Axis) -> None:
    body = CountingBody(b"x" * 65536, 1600)
    headers = {"Authorization": f"Bearer {axis.tokens['operator']}"}
    answer = await axis.client.post(ACK, content=body, headers=headers)
    assert (answer.status_code, answer.json()["type"]) == (403, "urn:edoc-axis:problem:forbidden")
    assert body.pulled == 0


async def test_a_vdxp_call_is_authenticated_before_its_body_is_read(axis: Axis) -> None:
    body = CountingBody(b"x" * 65536, 1600)
    answer = await axis.client.post("/vdxp/sendEdoc", content=body)
    assert answer.status_code == 401
    assert answer.json()["status"] == "FAIL"
    assert body.pulled == 0


async def test_two_authorization_headers_are_refused(axis: Axis) -> None:
    token = axis.tokens[RECIPIENT]
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer other")]
    answer = await axis.client.get("/v1/inbox", headers=headers)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "urn:edoc-axis:problem:several_credentials"
    one = await axis.client.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert one.status_code == 200


async def test_a_json_body_over_the_limit_is_refused_with_413(axis: Axis) -> None:
    headers = {"Authorization": f"Bearer {axis.tokens[RECIPIENT]}"}
    declared = await axis.client.post(ACK, content=b"{" + b" " * JSON_LIMIT + b"}", headers=headers)
    assert declared.status_code == 413
    assert declared.json()["type"] == "urn:edoc-axis:problem:body_too_large"
    # No Content-Length: counted as the bytes arrive, refused at the first chunk past it.
    body = CountingBody(b" " * 1024, 100_000)
    streamed = await axis.client.post(ACK, content=body, headers=headers)
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == PROBLEM
    assert body.pulled == JSON_LIMIT // 1024 + 1
    # Under the limit the body reaches its handler (which knows no such delivery).
    small = await axis.client.post(ACK, json={"result": "done"}, headers=headers)
    assert small.status_code == 404


async def test_an_acknowledgement_reason_is_bounded(axis: Axis) -> None:
    headers = {"Authorization": f"Bearer {axis.tokens[RECIPIENT]}"}
    ack = {"result": "fail", "reason": "x" * 2001}
    answer = await axis.client.post(ACK, json=ack, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["element"] == "body.reason"


async def test_a_body_that_stops_arriving_gets_408(axis: Axis) -> None:
    headers = {"Authorization": f"Bearer {axis.tokens[RECIPIENT]}"}
    body = CountingBody(b" " * 100, 10, stall_after=2)
    started = time.monotonic()
    answer = await axis.client.post(ACK, content=body, headers=headers)
    took = time.monotonic() - started
    assert answer.status_code == 408
    assert answer.json()["type"] == "urn:edoc-axis:problem:request_timeout"
    assert answer.headers["connection"] == "close"
    assert BODY_TIMEOUT <= took < BODY_TIMEOUT + 2


async def test_refusals_are_counted_and_summarised_not_audited_each(axis: Axis) -> None:
    for _ in range(5):
        assert (await axis.client.get("/v1/inbox")).status_code == 401
    metrics = (await axis.client.get("/metrics")).text
    assert 'axis_requests_refused_total{agency="",reason="unauthenticated"}' in metrics

    async def summaries() -> list[dict[str, object]]:
        answer = await axis.request("GET", "/v1/audit/entries?type=requests.refused", "auditor")
        return [entry["event"] for entry in answer.json()["entries"]]

    deadline = time.monotonic() + 20
    while not (events := await summaries()):
        assert time.monotonic() < deadline, "no requests.refused summary within 20 s"
        await asyncio.sleep(0.1)
    unauthenticated = [e for e in events if e["data"]["reason"] == "unauthenticated"]  # type: ignore[index]
    assert sum(e["data"]["count"] for e in unauthenticated) == 5  # type: ignore[index, misc]
    assert all(e["data"]["status"] == 401 for e in unauthenticated)  # type: ignore[index]


# Against a real `axis serve` process.


@dataclass
class Served:
    base_url: str
    port: int
    pid: int
    tokens: dict[str, str]

    def memory_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for {self.pid}")


SERVED_BODY_TIMEOUT = 5.0
SERVED_HEADER_TIMEOUT = 5.0  # a busy test process may open a connection well before it writes


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`axis serve` with short deadlines and a small allowance (20/s, bursts of 100)."""
    data_dir = tmp_path_factory.mktemp("served")
    _, tokens = asyncio.run(register(Settings(data_dir=data_dir), [SENDER, RECIPIENT, OTHER]))
    env = {
        "AXIS_BODY_TIMEOUT_SECONDS": str(SERVED_BODY_TIMEOUT),
        "AXIS_HEADER_TIMEOUT_SECONDS": str(SERVED_HEADER_TIMEOUT),
        "AXIS_AGENCY_RATE_PER_SECOND": "20",
        "AXIS_AGENCY_RATE_BURST": "100",
        "AXIS_AGENCY_MAX_IN_FLIGHT": "100",
        "AXIS_ADMISSION_WAIT_SECONDS": "0.5",
    }
    with served_axis(data_dir, env) as running:
        yield Served(running.base_url, running.port, running.pid, tokens)


async def _raw_post(
    served: Served, path: str, headers: dict[str, str], *, total: int, chunked: bool = False
) -> tuple[bytes, int]:
    """POST `total` bytes of JSON-ish filler in 1 MiB writes on a raw socket, reading the
    answer as soon as there is one: (the status line, the bytes the socket took)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    head = [f"POST {path} HTTP/1.1", "Host: axis"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.create_task(reader.readline())
    chunk = b" " * (1 << 20)
    sent = 0
    try:
        while sent < total and not answer.done():
            piece = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            writer.write(piece)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, TimeoutError):
                break  # the server stopped reading: its answer is what counts
            sent += len(chunk)
        status = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()
    return status, sent


@pytest.mark.parametrize(
    ("as_", "chunked", "refusal"),
    [(None, True, b"401"), (RECIPIENT, True, b"413"), (RECIPIENT, False, b"413")],
    ids=["no-token", "agency-token-chunked", "agency-token-content-length"],
)
async def test_a_100_mb_json_body_costs_the_server_under_10_mb(
    served: Served, as_: str | None, chunked: bool, refusal: bytes
) -> None:
    """No token: 401 before the body; an agency's token: 413, as the bytes pass the limit
    (chunked) or at once (a Content-Length over it)."""
    headers = {"Content-Type": "application/json"}
    if as_ is not None:
        headers["Authorization"] = f"Bearer {served.tokens[as_]}"
    before = served.memory_kib("VmHWM")
    status, sent = await _raw_post(served, ACK, headers, total=100 << 20, chunked=chunked)
    grown = served.memory_kib("VmHWM") - before
    assert status.startswith(b"HTTP/1.1 " + refusal), status
    assert sent < 50 << 20, "the server read on instead of refusing"
    assert grown < 10 * 1024, f"peak RSS grew by {grown} KiB"
    assert served.memory_kib("VmRSS") - before < 10 * 1024


async def test_sixty_stalled_bodies_are_dropped_while_others_are_served(served: Served) -> None:
    headers = {
        "Authorization": f"Bearer {served.tokens[RECIPIENT]}",
        "Content-Type": "application/json",
        "Content-Length": "1000",
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST {ACK} HTTP/1.1\r\nHost: axis\r\n{head}\r\n".encode() + b" " * 500

    async def stall() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request)
        await writer.drain()
        started = time.monotonic()
        try:
            answer = await asyncio.wait_for(reader.read(), SERVED_BODY_TIMEOUT + 10)
        finally:
            writer.close()
        return answer, time.monotonic() - started

    stalled = [asyncio.create_task(stall()) for _ in range(60)]
    operator = {"Authorization": f"Bearer {served.tokens['operator']}"}
    async with httpx.AsyncClient(base_url=served.base_url, headers=operator) as http:
        listing = await http.get("/v1/agencies")
        assert listing.status_code == 200
        assert not any(task.done() for task in stalled), "answered only after the deadline"
    results = await asyncio.gather(*stalled)
    for answer, took in results:
        # read() returned: the server closed the connection, after a 408 problem.
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"request_timeout" in answer
        assert took < SERVED_BODY_TIMEOUT + 3


async def test_headers_that_never_end_get_408_and_the_connection_closed(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /v1/agencies HTTP/1.1\r\nHost: axis\r\nX-Slow: 1\r\n")
    await writer.drain()
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(reader.read(), SERVED_HEADER_TIMEOUT + 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert SERVED_HEADER_TIMEOUT - 0.5 < time.monotonic() - started < SERVED_HEADER_TIMEOUT + 3


async def test_a_flooding_agency_gets_429_while_another_is_served(served: Served) -> None:
    flood_headers = {"Authorization": f"Bearer {served.tokens[SENDER]}"}
    # A connection per request: a pooled connection left idle past the server's keep-alive
    # (the flood outlasts it on a loaded machine) races its close with its reuse, which
    # httpx reports as "Server disconnected" though the server did nothing wrong.
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(base_url=served.base_url, limits=limits, timeout=30) as flood,
        httpx.AsyncClient(base_url=served.base_url, timeout=30) as other,
    ):
        flooding = [
            asyncio.create_task(flood.get("/v1/inbox", headers=flood_headers)) for _ in range(300)
        ]
        other_headers = {"Authorization": f"Bearer {served.tokens[OTHER]}"}
        others = [await other.get("/v1/inbox", headers=other_headers) for _ in range(10)]
        answers = await asyncio.gather(*flooding)
    assert [a.status_code for a in others] == [200] * 10
    refused = [a for a in answers if a.status_code == 429]
    assert refused, "300 requests at once were all admitted at 20/s"
    assert {a.status_code for a in answers} == {200, 429}
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
    assert refused[0].json()["type"] == "urn:edoc-axis:problem:rate_limited"


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        answer = await asyncio.wait_for(reader.read(), SERVED_HEADER_TIMEOUT + 10)
    finally:
        writer.close()
    assert answer == b""
