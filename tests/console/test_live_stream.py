"""The overview's live stream against a real `axis serve`: named events with ids, a
reconnect that resumes where it stopped, and no stream that holds up a shutdown."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Generator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from console_harness import Served, serve

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def signed_in_client(served: Served, as_: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding a console session, signed in as the sign-in form does."""
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        form = await client.get("/ui/sign-in")
        [csrf] = CSRF.findall(form.text)
        data = {"token": served.tokens[as_], "csrf": csrf}
        assert (await client.post("/ui/sign-in", data=data)).status_code == 303
        yield client


async def events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The events of a text/event-stream, as {field: value} (data lines joined)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = event[name] + "\n" + value if name in event else value


async def first_events(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The first `count` named events of an overview stream (or up to its first `figures`,
    when `count` is 0)."""
    received: list[dict[str, str]] = []
    async with client.stream("GET", "/ui/overview/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in events(response):
            if "event" in event:
                received.append(event)
            if (count and len(received) == count) or (
                not count and event.get("event") == "figures"
            ):
                break
    return received


async def test_every_event_is_named_and_numbered_and_a_reconnect_resumes(served: Served) -> None:
    async with signed_in_client(served, "operator") as client:
        received = await first_events(client, 0)  # the ring's samples, then the figures
        *samples, figures = received
        assert {event["event"] for event in samples} == {"sample"}
        assert figures["event"] == "figures" and "log-size" in figures["data"]
        ids = [int(event["id"]) for event in samples]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        assert int(figures["id"]) == ids[-1]
        resumed = await first_events(client, 1, {"Last-Event-ID": str(ids[-1])})
        assert resumed[0]["event"] == "sample"
        assert int(resumed[0]["id"]) == ids[-1] + 1  # the next one, nothing skipped or repeated
        again = await first_events(client, 1, {"Last-Event-ID": str(ids[-1])})
        assert again[0]["id"] == resumed[0]["id"]  # taken before: resent from the ring


async def test_an_open_stream_holds_no_admission_place(served: Served) -> None:
    """One request of an operator at a time (AXIS_AGENCY_MAX_IN_FLIGHT=1): a stream that
    held its place would make every other page of the operator wait, then 429."""
    async with signed_in_client(served, "operator") as client:
        async with client.stream("GET", "/ui/overview/events") as stream:
            assert stream.status_code == 200
            started = time.monotonic()
            page = await client.get("/ui/")
            assert page.status_code == 200
            assert time.monotonic() - started < 5  # admission waits 10 s before a 429


async def test_an_auditor_cannot_open_the_stream(served: Served) -> None:
    async with signed_in_client(served, "auditor") as client:
        answer = await client.get("/ui/overview/events")
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]


@pytest.mark.timeout(120)
async def test_open_streams_do_not_hold_up_a_shutdown(tmp_path: Path) -> None:
    server = serve(tmp_path, {})
    served = next(server)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(signed_in_client(served, "operator")) for _ in range(5)
        ]
        await _stop_while_streaming(served, clients, server)


async def _stop_while_streaming(
    served: Served, clients: list[httpx.AsyncClient], server: Generator[Served, None, None]
) -> None:
    streams = [asyncio.create_task(first_events(client, 1_000_000)) for client in clients]
    try:
        await first_events(clients[0], 2)  # the streams are open and flowing
        started = time.monotonic()
        served.process.terminate()
        await asyncio.to_thread(served.process.wait, 15)
        stopped_in = time.monotonic() - started
        done, _ = await asyncio.wait(streams, timeout=5)
        assert len(done) == len(streams)  # every stream ended with the server
        assert stopped_in < 5, f"axis serve took {stopped_in:.1f} s to stop"
    finally:
        for task in streams:
            task.cancel()
        server.close()
