"""`kill -9` of the worker process while deliveries are in flight, then a new worker.

The API (`axis serve --only-api`) and the workers (`axis worker`) are separate processes on
one bus (on the embedded engine: one SQLite file the processes share) and one database.
Afterwards every accepted document has reached every recipient (its very bytes), the axis
has one `delivered` event per delivery id and every delivery is in state `delivered`, and
the only repeated pushes are of deliveries the dead worker had not marked delivered yet.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from e2e_support import (
    Deployment,
    RecordingReceiver,
    check_one_delivered_each,
    check_stored,
    push_agency,
    routed,
    summary,
    wait_delivered,
    wait_until,
)
from push_endpoint import serving

FAST_1 = "000.00.00.H26"
FAST_2 = "000.00.00.H41"
SLOW = "000.00.00.H53"
DOCUMENTS = 100
SENDERS = 8


@pytest.mark.timeout(120)
async def test_worker_killed_mid_delivery(deployment: Deployment, tmp_path: Path) -> None:
    started = time.monotonic()
    receivers = {
        FAST_1: RecordingReceiver(tmp_path / "r1"),
        FAST_2: RecordingReceiver(tmp_path / "r2"),
        SLOW: RecordingReceiver(tmp_path / "r3", delay=1.0),
    }
    async with (
        serving(receivers[FAST_1]) as url_1,
        serving(receivers[FAST_2]) as url_2,
        serving(receivers[SLOW]) as url_3,
    ):
        await deployment.register(
            [push_agency(FAST_1, url_1), push_agency(FAST_2, url_2), push_agency(SLOW, url_3)]
        )
        envelopes = await deployment.sign_documents(list(receivers), "worker-crash", DOCUMENTS)
        await deployment.start_api()
        first_worker = await deployment.start_worker()

        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for envelope in envelopes:
            queue.put_nowait(envelope)
        sent: dict[str, bytes] = {}

        async def sender() -> None:
            async with deployment.client() as client:
                while not queue.empty():
                    result = await client.send_document(queue.get_nowait())
                    assert not result.repeat
                    sent[result.document_id] = result.envelope

        sending = asyncio.gather(*(sender() for _ in range(SENDERS)))

        async def mid_flight() -> bool:
            slow = receivers[SLOW]
            waiting_at_slow = len(slow.arrivals) - len(slow.attempts)  # arrived, no answer
            stored = sum(len(r.stored()) for r in receivers.values())
            return waiting_at_slow >= 5 and stored >= 30

        await wait_until(mid_flight, "deliveries in flight at the slow endpoint", 45)
        await first_worker.kill_hard()
        # The one moment nothing moves: the worker is dead and the next one not started.
        at_kill = await deployment.delivery_states()
        killed_at = time.monotonic()
        await deployment.start_worker()
        await sending
        assert len(sent) == DOCUMENTS

        expected = await routed(deployment, sent, list(receivers))
        await wait_delivered(deployment, receivers, expected)
        recovered_s = time.monotonic() - killed_at

    check_stored(receivers, expected, sent)
    views = await deployment.recipient_views(sent)
    assert {view["state"] for vs in views.values() for view in vs} == {"delivered"}
    repeated_records = check_one_delivered_each(await deployment.events(), expected)

    # Pushed again: only deliveries that were not `delivered` yet when the worker died, at
    # most once more (the dead worker's attempt, then the new worker's), same delivery id.
    delivered_at_kill = {d for d, state in at_kill.items() if state == "delivered"}
    assert delivered_at_kill, "the kill came before any delivery"
    assert len(delivered_at_kill) < 3 * DOCUMENTS, "the kill came after every delivery"
    pushed_again: dict[str, int] = {}
    for code, receiver in receivers.items():
        for delivery_id, count in receiver.attempts_per_delivery().items():
            assert delivery_id in expected[code], "a push of another recipient's delivery"
            if count > 1:
                pushed_again[delivery_id] = count
    assert not pushed_again.keys() & delivered_at_kill, "a delivered delivery was pushed again"
    assert set(pushed_again.values()) <= {2}, pushed_again
    summary(
        f"worker kill -9 [{deployment.engine}]",
        {
            "deliveries": 3 * DOCUMENTS,
            "delivered_at_kill": len(delivered_at_kill),
            "pushed_again": len(pushed_again),
            "delivered_records_repeated": repeated_records,
            "recovered_s": round(recovered_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        },
    )
