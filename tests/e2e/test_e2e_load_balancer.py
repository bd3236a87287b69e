"""HAProxy (deploy/haproxy/launcher.py) in front of two `axis serve --only-api` processes, one
`axis worker` and one `axis audit-writer`, on Kafka and PostgreSQL. Agencies send through
HAProxy, resending the same bytes when they get no answer, while:

1. one API process is sent SIGTERM: it answers /readyz 503 and serves on until HAProxy has
   taken it out, then finishes what it has and exits; no request fails. It is restarted.
2. the other is `kill -9`ed with requests in flight: HAProxy marks it down on its refused
   checks, and the requests it lost are resent through HAProxy to the first one, answered
   with one document id each (a repeat when the killed process had committed it).

Every document answered 2xx is then delivered once per delivery id, and HAProxy's runtime
API saw each process go down once, for the reason expected, and come back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    AxisProcess,
    Deployment,
    RecordingReceiver,
    check_one_delivered_each,
    check_stored,
    deployment_on,
    haproxy_server,
    push_agency,
    routed,
    summary,
    wait_delivered,
    wait_haproxy_status,
    wait_until,
)
from process_table import descendants
from push_endpoint import serving

from adapters.client import AxisError, AxisUnreachable, SendResult

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PUSH = "000.00.00.H26"
DOCUMENTS = 300
SENDERS = 12
DRAIN_SECONDS = 3.0
"""Longer than HAProxy needs to see two failed checks (500 ms apart, each up to 2 s)."""
ENVIRONMENT = {
    "AXIS_SERVE_WORKERS": "1",  # a supervisor and its API process, as deployed
    "AXIS_SERVE_DRAIN_SECONDS": str(DRAIN_SECONDS),
}


@pytest.fixture
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str
) -> AsyncIterator[Deployment]:
    async for running in deployment_on(request, tmp_path, "kafka", kafka_bootstrap):
        running.extra_environment |= ENVIRONMENT
        yield running


@pytest.mark.timeout(180)
async def test_clients_through_haproxy_lose_nothing_to_a_drain_or_a_kill(
    deployment: Deployment, haproxy: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    receiver = RecordingReceiver(tmp_path / "push")
    async with serving(receiver) as url:
        await deployment.register([push_agency(PUSH, url)])
        envelopes = await deployment.sign_documents([PUSH], "balanced", DOCUMENTS)
        ports = [int(backend.rsplit(":", 1)[1]) for backend in haproxy.backends]
        apis: list[AxisProcess] = list(
            await asyncio.gather(*(deployment.start_api(port) for port in ports))
        )
        await deployment.start_worker()
        await deployment.start_audit_writer()
        deployment.port = haproxy.port  # the agencies' address, and the test's, is HAProxy's
        for name in ("api-1", "api-2"):
            await wait_haproxy_status(haproxy, name, "UP")
        downs_before = {
            name: int((await haproxy_server(haproxy, name))["chkdown"])
            for name in ("api-1", "api-2")
        }

        # Agencies send, each its share, resending the same bytes until answered.
        waiting = list(range(DOCUMENTS))
        answers: dict[int, SendResult] = {}
        lost: dict[int, list[tuple[float, str]]] = defaultdict(list)

        # The second half of the documents waits until api-1 is back: they are the load the
        # kill meets, however fast the first half went (on an idle machine, all went before).
        drained = asyncio.Event()

        async def agency() -> None:
            async with deployment.client(timeout=60) as client:
                while waiting:
                    number = waiting.pop(0)
                    if number >= DOCUMENTS // 2:
                        await drained.wait()
                    end = time.monotonic() + 60
                    while True:
                        try:
                            answers[number] = await client.send_document(envelopes[number])
                        except AxisError as error:
                            assert error.retryable, f"refused for good: {error}"
                            lost[number].append((time.monotonic(), f"{error.status} {error.code}"))
                        except AxisUnreachable as error:
                            lost[number].append((time.monotonic(), f"unreachable: {error}"))
                        else:
                            break
                        await asyncio.sleep(0.1)  # an agency's pause before it resends
                        assert time.monotonic() < end, f"{number} never answered: {lost[number]}"

        sending = asyncio.gather(*(agency() for _ in range(SENDERS)))
        print(f"[lb] started in {time.monotonic() - started:.1f} s")

        async def answered(count: int) -> bool:
            assert not sending.done(), "every document was sent before the faults"
            return len(answers) >= count

        await wait_until(lambda: answered(DOCUMENTS // 10), "some documents answered", 60)

        # 1. SIGTERM to api-1: HAProxy takes it out on /readyz's 503 while it still serves.
        signalled_at = time.monotonic()
        apis[0].process.send_signal(signal.SIGTERM)
        down = await wait_haproxy_status(haproxy, "api-1", "DOWN")
        out_after = time.monotonic() - signalled_at
        assert out_after < DRAIN_SECONDS and apis[0].running, "out only once it had stopped"
        assert (down["check_status"], down["check_code"]) == ("L7STS", "503")
        assert await asyncio.wait_for(apis[0].process.wait(), 30) == 0
        drained_after = time.monotonic() - signalled_at
        apis[0] = await deployment.start_api(ports[0])
        await wait_haproxy_status(haproxy, "api-1", "UP")
        drained.set()
        print(f"[lb] api-1 back at {time.monotonic() - started:.1f} s, {len(answers)} answered")

        # 2. kill -9 of api-2 while HAProxy has requests at it.
        async def busy() -> bool:
            assert not sending.done(), "every document was sent before the kill"
            return int((await haproxy_server(haproxy, "api-2"))["scur"]) > 0

        node = [apis[1].process.pid, *descendants(apis[1].process.pid)]
        await wait_until(busy, "a request in flight at api-2", 30, every=0.005)
        killed_at = time.monotonic()
        for pid in node:  # the supervisor and its API process at once, as a crash takes them
            os.kill(pid, signal.SIGKILL)
        await apis[1].kill_hard()
        down = await wait_haproxy_status(haproxy, "api-2", "DOWN")
        marked_after = time.monotonic() - killed_at
        assert down["check_status"] == "L4CON", down  # refused: nobody listens
        assert marked_after < 5, "two refused checks 500 ms apart took longer than 5 s"
        apis[1] = await deployment.start_api(ports[1])
        await wait_haproxy_status(haproxy, "api-2", "UP")
        print(f"[lb] api-2 back at {time.monotonic() - started:.1f} s, {len(answers)} answered")
        await sending
        print(f"[lb] all answered at {time.monotonic() - started:.1f} s")

        # A 429 is the agency's own admission limit (its senders share one in-flight
        # slot per process), resent like any refusal; what the drain and the kill may
        # not cause is anything else.
        failures = [
            (at, note)
            for notes in lost.values()
            for at, note in notes
            if not note.startswith("429")
        ]
        assert not [note for at, note in failures if at < killed_at], (
            "a request failed in the drain"
        )
        assert failures, "no request was in flight at the kill"
        for name in ("api-1", "api-2"):
            row = await haproxy_server(haproxy, name)
            assert row["status"] == "UP"
            assert int(row["chkdown"]) == downs_before[name] + 1, f"{name} flapped: {row}"

        # One document id per envelope: a resend (the same bytes) is a repeat of that id.
        assert len(answers) == DOCUMENTS
        async with deployment.client() as client:
            again = await asyncio.gather(*(client.send_document(envelopes[n]) for n in lost))
        for number, repeat in zip(lost, again, strict=True):
            assert repeat.repeat and repeat.document_id == answers[number].document_id
        sent = {answer.document_id: envelopes[n] for n, answer in answers.items()}
        assert len(sent) == DOCUMENTS
        assert await deployment.stored_documents() == set(sent)

        expected = await routed(deployment, sent, [PUSH])
        await wait_delivered(deployment, {PUSH: receiver}, expected)
        print(f"[lb] all delivered at {time.monotonic() - started:.1f} s")
    check_stored({PUSH: receiver}, expected, sent)
    check_one_delivered_each(await deployment.events(), expected)
    summary(
        "HAProxy, SIGTERM then kill -9",
        {
            "documents": DOCUMENTS,
            "out_of_haproxy_after_sigterm_s": round(out_after, 2),
            "drained_after_s": round(drained_after, 2),
            "marked_down_after_kill_s": round(marked_after, 2),
            "lost_to_the_kill": len(lost),
            "of_which_committed": sum(1 for n in lost if answers[n].repeat),
            "failures": sorted({note for _, note in failures}),
            "pushed_more_than_once": sum(
                1 for c in receiver.attempts_per_delivery().values() if c > 1
            ),
            "total_s": round(time.monotonic() - started, 1),
        },
    )
