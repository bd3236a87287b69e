"""Real agency files, as written, through the real API to their recipients and back.

Every well-formed sample in tests/edxml/samples/ is re-signed by its own sender (the
agencies named in its From/To are registered, with development certificates) and sent to
/v1/documents; each recipient pulls the sender's very bytes, acknowledges, and answers with
a status written like the real status sample. A recall (13) written as real software
writes it (ResponseFor/OrganId naming the recipient asked) reaches that recipient only, and
its 15 (ResponseFor/OrganId naming the sender) comes back to the sender. On each bus and
database (the `axis` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest
from envelopes import NS, SAMPLES, document
from lxml import etree
from running_axis import Axis, registry_rules
from test_delivery import eventually, inbox

from axis.credentials import create_token
from axis.registry import AgencyRecord, CertificateRecord, add_certificate, save_agencies
from axis.storage.models import AgencyLevel, Role
from signing.devkeys import load_or_create_dev_keys
from signing.keys import certificate_pem
from signing.xmldsig import sign_envelope

MALFORMED = "lgsp_malformed_edoc.edxml"
"""Not well-formed XML (see SOURCES.md): refused before anything else, so not sent here."""
STATUS_SAMPLE = "bkav_status_processing_05.edxml"
DOCUMENT_SAMPLES = sorted(
    path.name for path in SAMPLES.glob("*.edxml") if path.name not in (MALFORMED, STATUS_SAMPLE)
)


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def header_of(data: bytes) -> Any:
    header = etree.fromstring(data).find(f".//{q('MessageHeader')}")
    assert header is not None
    return header


def organ_id(element: Any) -> str:
    return str(element.findtext(q("OrganId"))).strip()


def parties(data: bytes) -> tuple[str, list[str], str]:
    """From, the To list and the DocumentId of a document file."""
    header = header_of(data)
    return (
        organ_id(header.find(q("From"))),
        [organ_id(to) for to in header.findall(q("To"))],
        str(header.findtext(q("DocumentId"))).strip(),
    )


def status_as_written(sender: str, response_organ: str, document_id: str, code: str) -> bytes:
    """The real status sample with only its From, ResponseFor and StatusCode rewritten."""
    root = etree.parse(str(SAMPLES / STATUS_SAMPLE)).getroot()
    header = root.find(f".//{q('MessageHeader')}")
    assert header is not None
    header.find(f"{q('From')}/{q('OrganId')}").text = sender
    header.find(f"{q('ResponseFor')}/{q('OrganId')}").text = response_organ
    header.find(f"{q('ResponseFor')}/{q('DocumentId')}").text = document_id
    header.find(q("StatusCode")).text = code
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def register(axis: Axis, codes: list[str]) -> None:
    """Agencies (pull delivery), a development certificate and a token for each new code."""
    new = [code for code in dict.fromkeys(codes) if code not in axis.tokens]
    keys = load_or_create_dev_keys(axis.app.state.settings.dev_key_dir, new)
    async with axis.app.state.sessions.begin() as session:
        await save_agencies(
            session,
            [AgencyRecord(code=code, name=code, level=AgencyLevel.PROVINCE) for code in new],
            registry_rules(axis.app),
        )
        for code in new:
            axis.keys.agencies[code] = keys.agencies[code]
            pem = certificate_pem(keys.agencies[code].certificate).decode()
            await add_certificate(
                session, code, CertificateRecord(pem=pem), registry_rules(axis.app)
            )
            _, axis.tokens[code] = await create_token(session, Role.AGENCY, code)


async def send(axis: Axis, agency: str, body: bytes, path: str) -> dict[str, Any]:
    response = await axis.send(agency, sign_envelope(body, axis.key(agency)), path)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def delivered(
    axis: Axis, agency: str, kind: str, seen: set[str], document_id: str | None = None
) -> dict[str, Any]:
    """The next delivery of `kind` (about `document_id` if given) in the agency's inbox not
    seen before, downloaded."""

    async def new() -> dict[str, Any] | None:
        for entry in await inbox(axis, agency, f"?type={kind}"):
            if document_id not in (None, entry["document_id"]):
                continue
            if entry["delivery_id"] not in seen:
                seen.add(entry["delivery_id"])
                return entry
        return None

    entry: dict[str, Any] = await eventually(new, f"a {kind} delivery to {agency}")
    download = await axis.request("GET", f"/v1/inbox/{entry['delivery_id']}", agency)
    assert download.status_code == 200
    entry["content"] = download.content
    return entry


async def acknowledge(axis: Axis, agency: str, delivery_id: str) -> None:
    ack = await axis.request(
        "POST", f"/v1/inbox/{delivery_id}/ack", agency, json={"result": "done"}
    )
    assert ack.status_code == 200, ack.text


def test_every_well_formed_sample_is_covered() -> None:
    assert DOCUMENT_SAMPLES == [
        "bkav_edoc_new.edxml",
        "bkav_edoc_update.edxml",
        "lgsp_edoc_3_recipients.edxml",
        "lgsp_edoc_new.edxml",
    ]


@pytest.mark.parametrize("sample", DOCUMENT_SAMPLES)
async def test_a_real_file_reaches_its_recipients_and_a_status_comes_back(
    axis: Axis, sample: str
) -> None:
    data = (SAMPLES / sample).read_bytes()
    sender, recipients, edxml_id = parties(data)
    await register(axis, [sender, *recipients])
    if b"<edXML:BussinessDocType>2<" in data:
        # An update: the document it changes (Bussiness/DocumentId) was sent before.
        changed = str(etree.fromstring(data).findtext(f".//{q('Bussiness')}/{q('DocumentId')}"))
        await send(axis, sender, document(sender, recipients, changed.strip()), "/v1/documents")

    body = sign_envelope(data, axis.key(sender))
    response = await axis.send(sender, body)
    assert response.status_code == 202, response.text
    assert response.json()["recipients"] == sorted(recipients)
    document_id = response.json()["document_id"]

    seen: set[str] = set()
    for recipient in recipients:
        received = await delivered(axis, recipient, "edoc", seen, document_id)
        assert received["document_id"] == document_id
        assert received["content"] == body, "the recipient gets the sender's very bytes"
        await acknowledge(axis, recipient, received["delivery_id"])
        await send(
            axis, recipient, status_as_written(recipient, sender, edxml_id, "03"), "/v1/statuses"
        )
    answers = [await delivered(axis, sender, "status", seen) for _ in recipients]
    assert sorted(answer["sender"] for answer in answers) == sorted(recipients)

    view = (await axis.request("GET", f"/v1/documents/{document_id}", sender)).json()
    assert {r["state"] for r in view["recipients"]} == {"acked_done"}
    assert sorted((s["sender"], s["status_code"]) for s in view["statuses"]) == sorted(
        (recipient, "03") for recipient in recipients
    )
    accepted = await eventually(lambda: accepted_event(axis, document_id), "document.accepted")
    if sample == "bkav_edoc_new.edxml":  # it writes its PromulgationDate day first
        [warning] = view["warnings"]
        assert (warning["code"], warning["element"], warning["line"]) == (
            "bad_date",
            "PromulgationDate",
            33,
        )
        assert accepted["data"]["warnings"] == view["warnings"]
    else:
        assert view["warnings"] == []
        assert "warnings" not in accepted["data"]


async def accepted_event(axis: Axis, document_id: str) -> dict[str, Any] | None:
    """The document.accepted event of the document, once the audit log holds it."""
    response = await axis.request("GET", f"/v1/audit/documents/{document_id}/timeline", "auditor")
    for entry in response.json() if response.status_code == 200 else []:
        if entry["type"] == "document.accepted":
            event: dict[str, Any] = entry["event"]
            return event
    return None


async def test_the_real_status_sample_answers_the_document_it_names(axis: Axis) -> None:
    data = (SAMPLES / "lgsp_edoc_3_recipients.edxml").read_bytes()
    sender, recipients, _ = parties(data)
    status_data = (SAMPLES / STATUS_SAMPLE).read_bytes()
    status_sender = organ_id(header_of(status_data).find(q("From")))
    assert status_sender in recipients  # the two real files name each other
    await register(axis, [sender, *recipients])
    document_id = (await send(axis, sender, data, "/v1/documents"))["document_id"]

    answer = await send(axis, status_sender, status_data, "/v1/statuses")
    assert answer["recipients"] == [sender]
    [entry] = await eventually(lambda: inbox(axis, sender, "?type=status"), "the status")
    assert (entry["document_id"], entry["sender"]) == (document_id, status_sender)


async def test_a_recall_written_as_real_software_writes_it(axis: Axis) -> None:
    """13 from the sender naming each recipient asked; each answers 15 naming the sender."""
    data = (SAMPLES / "lgsp_edoc_3_recipients.edxml").read_bytes()
    sender, recipients, edxml_id = parties(data)
    await register(axis, [sender, *recipients])
    document_id = (await send(axis, sender, data, "/v1/documents"))["document_id"]
    seen: set[str] = set()
    for recipient in recipients:
        await delivered(axis, recipient, "edoc", seen)

    for recipient in recipients:
        recall = status_as_written(sender, recipient, edxml_id, "13")
        assert (await send(axis, sender, recall, "/v1/statuses"))["recipients"] == [recipient]
        asked = await delivered(axis, recipient, "status", seen)
        assert (asked["document_id"], asked["sender"]) == (document_id, sender)
        agreed = status_as_written(recipient, sender, edxml_id, "15")
        assert (await send(axis, recipient, agreed, "/v1/statuses"))["recipients"] == [sender]
    answers = [await delivered(axis, sender, "status", seen) for _ in recipients]
    assert sorted(answer["sender"] for answer in answers) == sorted(recipients)
    for recipient in recipients:  # each 13 went to the recipient it named, and only there
        assert [e["sender"] for e in await inbox(axis, recipient, "?type=status")] == [sender]

    view = (await axis.request("GET", f"/v1/documents/{document_id}", sender)).json()
    assert sorted((s["sender"], s["status_code"]) for s in view["statuses"]) == sorted(
        [(sender, "13")] * len(recipients) + [(r, "15") for r in recipients]
    )


async def test_recall_forms_and_refusals(axis: Axis) -> None:
    data = (SAMPLES / "lgsp_edoc_3_recipients.edxml").read_bytes()
    sender, recipients, edxml_id = parties(data)
    stranger = "000.00.00.H26"
    await register(axis, [sender, *recipients, stranger])
    await send(axis, sender, data, "/v1/documents")

    # The form adapters/ writes: ResponseFor/OrganId is the sender itself, to every recipient.
    own = status_as_written(sender, sender, edxml_id, "13")
    assert (await send(axis, sender, own, "/v1/statuses"))["recipients"] == sorted(recipients)

    async def refused(agency: str, body: bytes) -> dict[str, Any]:
        response = await axis.send(agency, sign_envelope(body, axis.key(agency)), "/v1/statuses")
        assert response.headers["content-type"] == "application/problem+json"
        answer: dict[str, Any] = {"status": response.status_code, **response.json()}
        return answer

    by_recipient = await refused(
        recipients[0], status_as_written(recipients[0], sender, edxml_id, "13")
    )
    sender_not_13 = await refused(sender, status_as_written(sender, recipients[0], edxml_id, "03"))
    for answer in (by_recipient, sender_not_13):
        assert (answer["status"], answer["type"]) == (
            403,
            "urn:edoc-axis:problem:status_not_allowed",
        )
    not_a_recipient = await refused(sender, status_as_written(sender, stranger, edxml_id, "13"))
    unknown = await refused(sender, status_as_written(sender, recipients[0], "no-such-id", "13"))
    from_a_stranger = await refused(stranger, status_as_written(stranger, sender, edxml_id, "03"))
    for answer in (not_a_recipient, unknown, from_a_stranger):
        assert (answer["status"], answer["type"]) == (
            404,
            "urn:edoc-axis:problem:document_not_found",
        )


async def test_a_status_with_an_unreadable_timestamp_is_accepted_with_a_warning(
    axis: Axis,
) -> None:
    data = (SAMPLES / "lgsp_edoc_3_recipients.edxml").read_bytes()
    sender, recipients, edxml_id = parties(data)
    await register(axis, [sender, *recipients])
    document_id = (await send(axis, sender, data, "/v1/documents"))["document_id"]
    body = status_as_written(recipients[0], sender, edxml_id, "05").replace(
        b"2015/09/20 11:08:36", b"20/09/2015 11h08"
    )
    await send(axis, recipients[0], body, "/v1/statuses")
    view = (await axis.request("GET", f"/v1/documents/{document_id}", sender)).json()
    [status] = view["statuses"]
    assert [(w["code"], w["element"]) for w in status["warnings"]] == [("bad_date", "Timestamp")]
