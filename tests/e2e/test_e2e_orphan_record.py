"""An API process that dies after the bus confirmed a document's `accepted` record but
before its database transaction committed leaves that record on the bus with no document
row (the sender got no answer, so it was never accepted). The router must not stop on it:
documents accepted after it must still be delivered.

The router waits for such a record's row as long as a commit could take, then skips it
(axis/delivery/router.py, ORPHAN_AFTER_SECONDS); the documents behind it (one partition
here, so all of them) are delivered. The API's death is simulated by publishing what it
would have published.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e_support import SENDER, Deployment, RecordingReceiver, push_agency, routed, wait_until
from push_endpoint import serving

from axis.bus.factory import create_bus
from axis.bus.topics import DOCUMENTS
from axis.delivery.router import ORPHAN_AFTER_SECONDS
from axis.messages import DocumentAccepted

RECIPIENT = "000.00.00.H26"


@pytest.mark.timeout(90)
async def test_an_uncommitted_accepted_record_holds_up_no_routing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'axis-data' / 'axis.sqlite3'}"
    deployment = Deployment(
        "embedded", tmp_path, url, extra_environment={"AXIS_BUS_PARTITIONS": "1"}
    )
    receiver = RecordingReceiver(tmp_path / "received")
    try:
        async with serving(receiver) as endpoint:
            await deployment.register([push_agency(RECIPIENT, endpoint)])
            [envelope] = await deployment.sign_documents([RECIPIENT], "after-orphan", 1)
            await deployment.start_api()

            # What an API publishes for a document before it commits, then dies.
            orphan = DocumentAccepted(
                document_id=str(uuid.uuid4()),
                edxml_document_id="orphan,1",
                sender=SENDER,
                recipients=[RECIPIENT],
                business_doc_type=0,
                changes_document_id=None,
                content_sha256="0" * 64,
                receipt_sha256="1" * 64,
                transit_sha256="2" * 64,
                received_at=datetime.now(UTC),
            )
            bus = create_bus(deployment.settings())
            await bus.start()
            try:
                await bus.publish(
                    DOCUMENTS,
                    orphan.model_dump_json().encode(),
                    key=orphan.document_id.encode(),
                    headers=(("type", orphan.type.encode()),),
                )
            finally:
                await bus.close()

            await deployment.start_worker()
            async with deployment.client() as client:
                accepted = await client.send_document(envelope)
            # Routed once the orphan is old enough to be skipped, not forever later.
            wait = ORPHAN_AFTER_SECONDS + 20
            expected = await routed(deployment, [accepted.document_id], [RECIPIENT], wait)

            async def stored() -> bool:
                return set(expected[RECIPIENT]) <= receiver.stored_ids()

            await wait_until(stored, "the document sent after the orphan delivered", 10)
    finally:
        await deployment.stop_all()
        print(deployment.logs())
