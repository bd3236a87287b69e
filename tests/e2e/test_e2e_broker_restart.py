"""Kafka only: the broker is killed (`kill -9`) and started again while documents are being
sent and delivered. Senders send the same bytes again on 503 `bus_unavailable` or no
answer; afterwards every accepted document reaches every recipient, with one `delivered`
per delivery id."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from e2e_support import (
    Deployment,
    Outcome,
    RecordingReceiver,
    check_one_delivered_each,
    check_stored,
    deployment_on,
    pull_agency,
    push_agency,
    routed,
    send_until_answered,
    summary,
    wait_delivered,
    wait_until,
)
from push_endpoint import serving

if TYPE_CHECKING:
    from deploy.kafka.launcher import KafkaNode

PUSH_1 = "000.00.00.H26"
PUSH_2 = "000.00.00.H41"
PULL = "000.00.00.H53"
DOCUMENTS_SIGNED = 200
WARM_UP = 10
AFTER_RESTART = 20
SENDERS = 8

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def kafka_deployment(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_node: KafkaNode
) -> AsyncIterator[Deployment]:
    async for running in deployment_on(request, tmp_path, "kafka", kafka_node.bootstrap):
        yield running


@pytest.mark.timeout(150)
async def test_broker_restarted_while_sending_and_delivering(
    kafka_deployment: Deployment, kafka_node: KafkaNode, tmp_path: Path
) -> None:
    deployment = kafka_deployment
    started = time.monotonic()
    receivers = {
        PUSH_1: RecordingReceiver(tmp_path / "r1"),
        PUSH_2: RecordingReceiver(tmp_path / "r2", delay=0.2),
    }
    recipients = [PUSH_1, PUSH_2, PULL]
    async with serving(receivers[PUSH_1]) as url_1, serving(receivers[PUSH_2]) as url_2:
        await deployment.register(
            [push_agency(PUSH_1, url_1), push_agency(PUSH_2, url_2), pull_agency(PULL)]
        )
        envelopes = await deployment.sign_documents(recipients, "broker-restart", DOCUMENTS_SIGNED)
        await deployment.start_api()
        await deployment.start_worker()

        outcomes = [Outcome() for _ in envelopes]
        async with deployment.client() as client:  # first, deliveries under way
            await asyncio.gather(
                *(
                    send_until_answered(client, envelopes[n], 30, outcomes[n])
                    for n in range(WARM_UP)
                )
            )

        async def under_way() -> bool:
            return sum(len(r.stored()) for r in receivers.values()) >= WARM_UP

        await wait_until(under_way, "the first documents delivered", 45)

        # Then senders send without pause until some time after the broker is back.
        numbers = iter(range(WARM_UP, len(envelopes)))
        back_at: list[int] = []  # how many were answered when the broker was back

        def answered() -> int:
            return sum(1 for outcome in outcomes if outcome.answers)

        def enough() -> bool:
            return bool(back_at) and answered() >= back_at[0] + AFTER_RESTART

        async def sender() -> None:
            async with deployment.client(timeout=60) as client:
                while not enough():
                    number = next(numbers, None)
                    assert number is not None, "ran out of documents to send"
                    await send_until_answered(client, envelopes[number], 90, outcomes[number])

        sending = asyncio.gather(*(sender() for _ in range(SENDERS)))

        async def sending_more() -> bool:
            assert not sending.done()
            return answered() >= WARM_UP + 10

        await wait_until(sending_more, "more documents answered", 30)
        restart_began = time.monotonic()
        await asyncio.to_thread(kafka_node.restart, hard=True)
        broker_down_s = time.monotonic() - restart_began
        back_at.append(answered())
        await sending

        outcomes = [outcome for outcome in outcomes if outcome.answers or outcome.failures]
        assert all(outcome.answers for outcome in outcomes)
        accepted = {outcome.answers[0].document_id for outcome in outcomes}
        assert len(accepted) == len(outcomes)
        expected = await routed(deployment, accepted, recipients)
        await wait_delivered(deployment, receivers, expected)

    sent = {outcome.answers[0].document_id: outcome.answers[0].envelope for outcome in outcomes}
    check_stored(receivers, expected, sent)
    repeated_records = check_one_delivered_each(await deployment.events(), expected)

    failures = Counter(note.split(":")[0] for o in outcomes for note in o.failures)
    attempts: Counter[str] = Counter()
    for receiver in receivers.values():
        attempts.update(receiver.attempts_per_delivery())
    summary(
        "broker kill -9 and restart [kafka]",
        {
            "documents": len(accepted),
            "answered_before_restart_returned": back_at[0],
            "broker_down_s": round(broker_down_s, 1),
            "send_failures": dict(failures),
            "pushed_more_than_once": sum(1 for c in attempts.values() if c > 1),
            "delivered_records_repeated": repeated_records,
            "total_s": round(time.monotonic() - started, 1),
        },
    )
