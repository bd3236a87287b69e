"""`kill -9` of the API process while a client is sending: after a restart the client sends
again (the same bytes) everything it got no answer for. Every document ever answered
202/200 then reaches every recipient once per delivery id, and every re-send is answered
with the document id the axis gave (or would have given) the first time."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from e2e_support import (
    Deployment,
    RecordingReceiver,
    check_one_delivered_each,
    check_stored,
    pull_agency,
    push_agency,
    routed,
    send_until_answered,
    summary,
    wait_delivered,
    wait_until,
)
from push_endpoint import serving

from adapters.client import AxisError, AxisUnreachable, SendResult
from axis.bus.topics import DOCUMENTS

PUSH_1 = "000.00.00.H26"
PUSH_2 = "000.00.00.H41"
PULL = "000.00.00.H53"
DOCUMENTS_SENT = 80
SENDERS = 16


@pytest.mark.timeout(120)
async def test_api_killed_while_a_client_sends(deployment: Deployment, tmp_path: Path) -> None:
    started = time.monotonic()
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randint(10, 40)
    receivers = {
        PUSH_1: RecordingReceiver(tmp_path / "r1"),
        PUSH_2: RecordingReceiver(tmp_path / "r2"),
    }
    recipients = [PUSH_1, PUSH_2, PULL]
    async with serving(receivers[PUSH_1]) as url_1, serving(receivers[PUSH_2]) as url_2:
        await deployment.register(
            [push_agency(PUSH_1, url_1), push_agency(PUSH_2, url_2), pull_agency(PULL)]
        )
        envelopes = await deployment.sign_documents(recipients, "api-crash", DOCUMENTS_SENT)
        api = await deployment.start_api()
        await deployment.start_worker()

        # Send until the API dies: what got no answer is kept for later, as a DMS would.
        first_answers: dict[int, SendResult] = {}
        unanswered: list[int] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(DOCUMENTS_SENT):
            queue.put_nowait(number)

        async def sender() -> None:
            async with deployment.client() as client:
                while not queue.empty():
                    number = queue.get_nowait()
                    try:
                        first_answers[number] = await client.send_document(envelopes[number])
                    except AxisUnreachable:
                        unanswered.append(number)
                    except AxisError as error:
                        assert error.retryable, f"refused for good: {error}"
                        unanswered.append(number)

        sending = asyncio.gather(*(sender() for _ in range(SENDERS)))

        async def answered_enough() -> bool:
            assert not sending.done() or len(first_answers) >= kill_after, "sent all first"
            return len(first_answers) >= kill_after

        await wait_until(answered_enough, f"{kill_after} answers", 45)
        await api.kill_hard()
        committed_at_kill = await deployment.stored_documents()
        await sending
        answered_before = {first_answers[n].document_id for n in first_answers}
        assert len(first_answers) + len(unanswered) == DOCUMENTS_SENT
        assert unanswered, "the API answered everything before it died"

        # Restart; send again (the same bytes) what got no answer.
        await deployment.start_api()
        async with deployment.client() as client:
            resent = await asyncio.gather(
                *(send_until_answered(client, envelopes[n], 30) for n in unanswered)
            )
            answers = first_answers | dict(zip(unanswered, resent, strict=True))
            # Unanswered but committed before the kill: the re-send is told it is a repeat.
            for number, answer in zip(unanswered, resent, strict=True):
                assert answer.repeat == (answer.document_id in committed_at_kill), number
            # Any further send of the same bytes: 200 with the id already given.
            repeats = await asyncio.gather(
                *(client.send_document(envelopes[n]) for n in range(DOCUMENTS_SENT))
            )
        for number, repeat in enumerate(repeats):
            assert repeat.repeat, "a document already answered was accepted as new"
            assert repeat.document_id == answers[number].document_id
        accepted = {answer.document_id for answer in answers.values()}
        assert len(accepted) == DOCUMENTS_SENT

        expected = await routed(deployment, accepted, recipients)
        await wait_delivered(deployment, receivers, expected)

    sent = {answer.document_id: answer.envelope for answer in answers.values()}
    check_stored(receivers, expected, sent)
    check_one_delivered_each(await deployment.events(), expected)
    # Documents answered before the kill were routed once: one push per delivery id.
    attempts: Counter[str] = Counter()
    for receiver in receivers.values():
        attempts.update(receiver.attempts_per_delivery())
    once = {
        delivery_id
        for code in receivers
        for delivery_id, document_id in expected[code].items()
        if document_id in answered_before
    }
    assert {attempts[d] for d in once} == {1}, "a document answered before the kill was re-pushed"

    accepted_records = Counter(
        record["document_id"] for record in await deployment.read_topic(DOCUMENTS)
    )
    summary(
        f"API kill -9 [{deployment.engine}]",
        {
            "seed": seed,
            "answered_before_kill": len(first_answers),
            "unanswered": len(unanswered),
            "unanswered_but_committed": len(committed_at_kill - answered_before),
            "accepted_records_twice": sum(1 for c in accepted_records.values() if c > 1),
            "pushed_more_than_once": sum(1 for c in attempts.values() if c > 1),
            "total_s": round(time.monotonic() - started, 1),
        },
    )
