"""`axis serve --workers 2` on the embedded defaults: two API processes on one port and a
background process, supervised by the parent. A document goes end to end, any process's
`/metrics` counts the whole node, a `kill -9`ed API process is replaced while clients send
(and every document acknowledged is delivered once), and SIGTERM drains and exits 0.
The API processes run no workers: what is delivered, the background process delivered."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from e2e_support import (
    Deployment,
    RecordingReceiver,
    check_one_delivered_each,
    check_stored,
    deployment_on,
    pull_agency,
    push_agency,
    routed,
    send_until_answered,
    wait_delivered,
    wait_until,
)
from process_table import alive, descendants
from push_endpoint import serving

PUSH = "000.00.00.H26"
PULL = "000.00.00.H53"
RECIPIENTS = [PUSH, PULL]
START_DEADLINE = 120.0
"""Three interpreters importing the axis at once, on a shared machine."""
STOP_DEADLINE = 30.0


@pytest.fixture
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    async for running in deployment_on(request, tmp_path, "embedded", None):
        yield running


async def answering_processes(deployment: Deployment, count: int) -> set[int]:
    """The pids of `count` distinct processes answering /readyz, each asked on a new
    connection (the kernel hands connections to whichever process accepts first)."""
    seen: set[int] = set()

    async def enough() -> bool:
        async with httpx.AsyncClient(base_url=deployment.base_url, timeout=5) as http:
            response = await http.get("/readyz")
        if response.status_code == 200:
            seen.add(int(response.headers["X-Axis-Process"]))
        return len(seen) >= count

    await wait_until(enough, f"{count} processes answering", START_DEADLINE, every=0.01)
    return seen


def accepted_documents(metrics: str) -> float:
    pattern = r'^axis_documents_total\{[^}]*result="accepted"[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, metrics, re.MULTILINE))


@pytest.mark.timeout(300)
async def test_two_api_processes_deliver_count_together_and_drain(
    deployment: Deployment, tmp_path: Path
) -> None:
    receiver = RecordingReceiver(tmp_path / "push")
    async with serving(receiver) as url:
        await deployment.register([push_agency(PUSH, url), pull_agency(PULL)])
        envelopes = await deployment.sign_documents(RECIPIENTS, "processes", 12)
        serve = await deployment.start_serve("--workers", "2", deadline=START_DEADLINE)
        parent = serve.process.pid
        assert await answering_processes(deployment, 2) <= descendants(parent)

        async with deployment.client() as client:
            answers = await asyncio.gather(*(client.send_document(e) for e in envelopes))
        sent = {
            answer.document_id: envelope
            for answer, envelope in zip(answers, envelopes, strict=True)
        }
        expected = await routed(deployment, sent, RECIPIENTS)
        await wait_delivered(deployment, {PUSH: receiver}, expected)
        check_stored({PUSH: receiver}, expected, sent)
        check_one_delivered_each(await deployment.events(), expected)

        # Each process counted the documents it accepted; each one's /metrics adds all up.
        for _ in range(4):
            async with httpx.AsyncClient(base_url=deployment.base_url, timeout=10) as http:
                metrics = (await http.get("/metrics")).text
            assert accepted_documents(metrics) == len(envelopes)

        children = descendants(parent)
        serve.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.process.wait(), STOP_DEADLINE) == 0

        async def all_gone() -> bool:
            return not any(alive(pid) for pid in children)

        await wait_until(all_gone, "every child gone", 10)


@pytest.mark.timeout(300)
async def test_a_killed_api_process_is_replaced_and_nothing_acknowledged_is_lost(
    deployment: Deployment, tmp_path: Path
) -> None:
    receiver = RecordingReceiver(tmp_path / "push")
    async with serving(receiver) as url:
        await deployment.register([push_agency(PUSH, url), pull_agency(PULL)])
        envelopes = await deployment.sign_documents(RECIPIENTS, "killed", 60)
        serve = await deployment.start_serve("--workers", "2", deadline=START_DEADLINE)
        parent = serve.process.pid
        victim, survivor = sorted(await answering_processes(deployment, 2))

        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for envelope in envelopes:
            queue.put_nowait(envelope)
        sent: dict[str, bytes] = {}

        async def sender() -> None:
            async with deployment.client(timeout=60) as client:
                while not queue.empty():
                    envelope = queue.get_nowait()
                    answer = await send_until_answered(client, envelope, 60)
                    sent[answer.document_id] = envelope

        sending = asyncio.gather(*(sender() for _ in range(8)))

        async def some_answered() -> bool:
            return len(sent) >= 10

        await wait_until(some_answered, "10 documents answered", 60)
        os.kill(victim, signal.SIGKILL)
        await sending

        assert not alive(victim)
        replacement = await answering_processes(deployment, 2)  # the survivor and a new one
        assert survivor in replacement
        assert replacement <= descendants(parent)
        assert "exited with code -9; starting another" in serve.log.read_text()

        assert len(sent) == len(envelopes)
        expected = await routed(deployment, sent, RECIPIENTS)
        await wait_delivered(deployment, {PUSH: receiver}, expected)
        check_stored({PUSH: receiver}, expected, sent)
        check_one_delivered_each(await deployment.events(), expected)
