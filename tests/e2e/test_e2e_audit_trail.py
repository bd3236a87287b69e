"""A document's whole trail through the audit log, with the axis as real processes (API,
worker, audit writer): sent, pulled and acknowledged by the recipient; the auditor reads
its timeline, exports a bundle and verifies it offline with `axis audit verify` and the
axis certificate only; one changed character in the file is found at its entry."""

from __future__ import annotations

import base64
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Deployment, axis_cli, pull_agency, wait_until
from envelopes import AUDIT_TRAIL

from axis.credentials import create_token
from axis.storage.database import create_engine, create_session_factory
from axis.storage.models import Role

RECIPIENT = "000.00.00.H26"
DOCUMENTS = 3


async def _tokens(deployment: Deployment) -> None:
    engine = create_engine(deployment.database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            _, deployment.tokens[RECIPIENT] = await create_token(session, Role.AGENCY, RECIPIENT)
            _, deployment.tokens["auditor"] = await create_token(session, Role.AUDITOR)
    finally:
        await engine.dispose()


@pytest.mark.timeout(180)
async def test_a_documents_trail_verifies_offline(deployment: Deployment, tmp_path: Path) -> None:
    deployment.extra_environment |= {
        "AXIS_CHECKPOINT_EVERY_ENTRIES": "4",
        "AXIS_CHECKPOINT_INTERVAL_SECONDS": "0.5",
    }
    await deployment.register([pull_agency(RECIPIENT)])
    await _tokens(deployment)
    await deployment.start_api()
    await deployment.start_worker()
    await deployment.start_audit_writer()

    envelopes = await deployment.sign_documents([RECIPIENT], "audit-trail", DOCUMENTS)
    async with deployment.client() as sender:
        sent = [(await sender.send_document(envelope)).document_id for envelope in envelopes]
    async with deployment.client(RECIPIENT) as recipient:

        async def all_in_inbox() -> list[str] | None:
            ids = [item.delivery_id async for item in recipient.inbox()]
            return ids if len(ids) == DOCUMENTS else None

        for delivery_id in await wait_until(all_in_inbox, "the deliveries in the inbox", 60):
            await recipient.download(delivery_id)
            await recipient.ack(delivery_id, "done")

    headers = {"Authorization": f"Bearer {deployment.tokens['auditor']}"}
    async with httpx.AsyncClient(base_url=deployment.base_url, headers=headers) as auditor:

        async def whole_trail(document_id: str) -> list[dict[str, Any]] | None:
            response = await auditor.get(f"/v1/audit/documents/{document_id}/timeline")
            found = response.json() if response.status_code == 200 else []
            return found if len(found) >= len(AUDIT_TRAIL) else None

        last = 0
        for document_id in sent:
            trail = await wait_until(partial(whole_trail, document_id), "the whole trail", 60)
            assert [entry["type"] for entry in trail] == AUDIT_TRAIL
            last = max(last, trail[-1]["position"])

        async def signed_past_last() -> int | None:
            sizes = [c["size"] for c in (await auditor.get("/v1/audit/checkpoints")).json()]
            return max(sizes) if sizes and max(sizes) > last else None

        await wait_until(signed_past_last, "a checkpoint over every trail", 60)
        bundle = tmp_path / "bundle.jsonl"
        bundle.write_bytes((await auditor.get("/v1/audit/export")).content)
        certificate = tmp_path / "axis.pem"
        certificate.write_bytes((await auditor.get("/v1/audit/certificate")).content)

    offline = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
    offline["AXIS_DATA_DIR"] = str(tmp_path / "nothing-here")
    status, output = await axis_cli(
        "audit", "verify", str(bundle), "--certificate", str(certificate), env=offline
    )
    assert status == 0, output
    assert "verified" in output

    lines = bundle.read_bytes().splitlines()
    for number, line in enumerate(lines):
        parsed = json.loads(line)
        if parsed["type"] == "entry" and parsed["position"] == 5:
            entry = base64.b64decode(parsed["entry"]).replace(b'"type":"', b'"type":"X', 1)
            parsed["entry"] = base64.b64encode(entry).decode()
            lines[number] = json.dumps(parsed).encode()
    bundle.write_bytes(b"\n".join(lines) + b"\n")
    status, output = await axis_cli(
        "audit", "verify", str(bundle), "--certificate", str(certificate), env=offline
    )
    assert status == 1, output
    assert "FAILED at position 5: the entry's bytes do not match its leaf hash" in output

    status, output = await axis_cli("audit", "verify", "--database", env=deployment.environment())
    assert status == 0, output
