"""A Java VDXP client, written from the protocol, drives a real axis on both buses: send a
signed document, list, download, acknowledge, send a status back, list what was sent; and
each kind of refused authentication gets the SDK's error shape and an audit event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from e2e.e2e_support import SENDER, Deployment, pull_agency, routed, wait_until
from envelopes import status
from java_client import VdxpAgency

from signing.xmldsig import sign_envelope

RECIPIENT = "000.00.00.H26"
OUTSIDER = "000.00.00.H27"
"""Registered, with a /v1 token possible, but never enabled on VDXP."""


async def _enable(deployment: Deployment, classpath: str, code: str) -> VdxpAgency:
    """What an operator does: enable VDXP access; the secret comes back once."""
    headers = {"Authorization": f"Bearer {deployment.tokens['operator']}"}
    async with httpx.AsyncClient(base_url=deployment.base_url, headers=headers) as http:
        answer = await http.post(f"/v1/admin/agencies/{code}/vdxp", json={})
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["system_id"] == code
    return VdxpAgency(
        classpath, f"{deployment.base_url}/vdxp", issued["system_id"], issued["secret"]
    )


async def _waiting(agency: VdxpAgency, message_type: str) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        reply = await agency.reply("getReceivedEdocList", {"messagetype": message_type})
        return list(reply["data"])

    return await wait_until(listed, f"a {message_type} in the received list", 60, every=0.2)


async def test_java_vdxp_client(
    deployment: Deployment, java_classpath: str, tmp_path: Path
) -> None:
    await deployment.register([pull_agency(RECIPIENT), pull_agency(OUTSIDER)])
    await deployment.start_api()
    await deployment.start_worker()
    sender = await _enable(deployment, java_classpath, SENDER)
    recipient = await _enable(deployment, java_classpath, RECIPIENT)
    [signed] = await deployment.sign_documents([RECIPIENT], "vdxp", 1)
    sent_file = tmp_path / "sent.edxml"
    sent_file.write_bytes(signed)

    # sendEdoc: the SDK's headers, the .edxml file as the body.
    header = {"from": SENDER, "to": [RECIPIENT], "servicetype": "eDoc", "messagetype": "edoc"}
    sent = await sender.reply("sendEdoc", header, "--file", str(sent_file))
    document_id = sent["DocId"]
    routing = await routed(deployment, [document_id], [RECIPIENT])
    [delivery_id] = routing[RECIPIENT]

    [item] = await _waiting(recipient, "edoc")
    assert item["docId"] == delivery_id
    assert (item["from"], item["to"], item["messageType"]) == (SENDER, RECIPIENT, "edoc")
    assert item["serviceType"] == "eDoc" and item["status"] == "initial"
    assert {"status_desc", "created_time", "updated_time"} <= item.keys()
    count = await recipient.reply("countReceiveEdoc", {}, "--get")
    assert count["count"] == 1

    # getEdoc (base64 in JSON) and downloadEdoc (the body): the very bytes sent.
    fetched, downloaded = tmp_path / "getEdoc.edxml", tmp_path / "downloadEdoc.edxml"
    await recipient.reply("getEdoc", {"docId": delivery_id}, "--out", str(fetched))
    [plain] = await recipient.call("downloadEdoc", {"docId": delivery_id}, "--get", "--out",
                                   str(downloaded))  # fmt: skip
    assert plain["http"] == 200
    assert fetched.read_bytes() == signed
    assert downloaded.read_bytes() == signed

    # updateStatus done: acknowledged in the sender's view on /v1 and in getSentEdocList.
    await recipient.reply("updateStatus", {"docId": delivery_id, "status": "done"})
    views = await deployment.recipient_views([document_id])
    assert [(v["delivery_id"], v["state"]) for v in views[document_id]] == [
        (delivery_id, "acked_done")
    ]
    sent_list = await sender.reply("getSentEdocList", {"docId": document_id})
    [mine] = sent_list["data"]
    assert (mine["senderDocId"], mine["receiverDocId"]) == (document_id, delivery_id)
    assert (mine["fromCode"], mine["toCode"]) == (SENDER, RECIPIENT)
    assert (mine["sendStatus"], mine["receiveStatus"]) == ("done", "done")
    assert (await recipient.reply("getReceivedEdocList", {"messagetype": "edoc"}))["data"] == []

    # A status (03) back to the sender through sendEdoc, messagetype status.
    assert deployment.keys is not None
    edxml_id = "vdxp,0"
    answer = sign_envelope(status(RECIPIENT, SENDER, edxml_id, "03"),
                           deployment.keys.agencies[RECIPIENT])  # fmt: skip
    status_file = tmp_path / "status.edxml"
    status_file.write_bytes(answer)
    header = {"from": RECIPIENT, "to": [SENDER], "servicetype": "eDoc", "messagetype": "status"}
    status_id = (await recipient.reply("sendEdoc", header, "--file", str(status_file)))["DocId"]
    [back] = await _waiting(sender, "status")
    assert (back["from"], back["messageType"]) == (RECIPIENT, "status")
    statuses = await recipient.reply("getSentEdocList", {"messagetype": "status"})
    assert [s["senderDocId"] for s in statuses["data"]] == [status_id]
    agencies = await sender.reply("getAgenciesList")
    assert {SENDER, RECIPIENT, OUTSIDER} <= {a["code"] for a in agencies["data"]}

    # Refusals: the SDK's shape with a non-zero ErrorCode, and an audit event each.
    listing = {"messagetype": "edoc"}
    [bad_hmac] = await recipient.call("getReceivedEdocList", listing, "--bad-hmac")
    [stale] = await recipient.call("getReceivedEdocList", listing, "--skew-seconds", "600")
    first, replayed = await recipient.call("getReceivedEdocList", listing, "--twice")
    stranger = VdxpAgency(java_classpath, sender.endpoint, OUTSIDER, "not-issued-by-the-axis")
    [no_access] = await stranger.call("getReceivedEdocList", listing)
    assert first["http"] == 200 and first["reply"]["ErrorCode"] == "0"
    refused = {"bad_hmac": bad_hmac, "stale_timestamp": stale, "replayed": replayed,
               "vdxp_not_enabled": no_access}  # fmt: skip
    for code, answer_ in refused.items():
        assert answer_["http"] == (403 if code == "vdxp_not_enabled" else 401), answer_
        reply = answer_["reply"]
        assert reply["status"] == "FAIL"
        assert reply["ErrorCode"] not in ("", "0")
        assert reply["ErrorDesc"].startswith(code), reply

    async def audited() -> list[dict[str, Any]] | None:
        events = await deployment.events()
        codes = {e["data"]["code"] for e in events if e["type"] == "vdxp.refused"}
        return events if codes >= refused.keys() else None

    events = await wait_until(audited, "a vdxp.refused event per refusal", 30, every=0.5)
    by_code = {e["data"]["code"]: e for e in events if e["type"] == "vdxp.refused"}
    assert by_code["bad_hmac"]["agency_code"] == RECIPIENT
    assert by_code["vdxp_not_enabled"]["data"]["system_id"] == OUTSIDER
    received = [e for e in events if e["type"] == "document.received"]
    assert [e["data"]["transport"] for e in received] == ["vdxp-hmac"]
    accepted_statuses = [e for e in events if e["type"] == "status.accepted"]
    assert [e["data"]["transport"] for e in accepted_statuses] == ["vdxp-hmac"]
    issued = [e for e in events if e["type"] == "agency.changed" and "vdxp.secret" in
              e["data"]["changes"]]  # fmt: skip
    assert {e["agency_code"] for e in issued} == {SENDER, RECIPIENT}
    assert all(e["data"]["changes"]["vdxp.secret"]["after"] == "<redacted>" for e in issued)
