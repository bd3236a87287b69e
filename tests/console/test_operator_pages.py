"""The operator's pages in a real browser against a real `axis serve`: agencies' health,
deliveries and dead letters (replayed one at a time and in bulk, checked through the API
and the audit log), and the registry's tokens (created, shown once, used, revoked)."""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_harness import ROOT, Served, SignIn, Visits
from envelopes import document
from playwright.sync_api import expect
from push_endpoint import free_port
from running_axis import SENDER

from signing.evidence import verify_evidence
from signing.xmldsig import sign_envelope

SECRET = "a shared secret of 16 or more characters"

CODES = (f"000.00.9{n}.G01" for n in itertools.count(1))
SENT = itertools.count(1)
OPERATOR_PAGES = ("/ui/agencies", "/ui/deliveries", "/ui/dead-letters", "/ui/registry")


def eventually(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """`check()`'s first truthy answer, polled until a deadline."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.1)  # polling the API for a condition, with a deadline
    return found


def register(served: Served, delivery: dict[str, Any], code: str | None = None) -> str:
    """Register (or change) an agency through the operator API; its code."""
    code = code or next(CODES)
    record = {
        "code": code,
        "name": f"Cơ quan thử {code}",
        "level": "province",
        "delivery": delivery,
    }
    with served.client("operator") as client:
        answer = client.post("/v1/admin/agencies", json=[record])
    assert answer.status_code == 200, answer.text
    return code


def refusing_endpoint() -> dict[str, Any]:
    """A push endpoint where nothing listens, tried once: every delivery to it dies."""
    return {
        "kind": "push",
        "url": f"http://127.0.0.1:{free_port()}/",
        "secret": SECRET,
        "timeout_seconds": 2,
        "retry": {"max_attempts": 1, "max_age_seconds": 3600},
    }


def dead_letters(served: Served, recipient: str, count: int) -> list[dict[str, Any]]:
    """`count` documents sent to `recipient`, once they are all dead letters."""
    with served.client(SENDER) as client:
        for _ in range(count):
            envelope = document(SENDER, [recipient], f"000.00.00.G22,2026/12/03,{next(SENT)}/DL")
            body = sign_envelope(envelope, served.keys.agencies[SENDER])
            answer = client.post(
                "/v1/documents", content=body, headers={"Content-Type": "application/xml"}
            )
            assert answer.status_code == 202, answer.text
    with served.client("operator") as client:

        def dead() -> list[dict[str, Any]] | None:
            found = client.get("/v1/admin/dead-letters", params={"recipient": recipient}).json()
            return found if len(found) == count else None

        return eventually(dead, f"{count} dead letters to {recipient}")  # type: ignore[no-any-return]


def delivered(served: Served, document_id: str, recipient: str) -> bool:
    with served.client(SENDER) as client:
        view = client.get(f"/v1/documents/{document_id}").json()
    return any(
        r["agency_code"] == recipient and r["state"] == "delivered" for r in view["recipients"]
    )


def test_a_dead_letter_replayed_from_the_console_is_delivered_and_audited(
    signed_in: SignIn, served_on_each_bus: Served, visits: Visits
) -> None:
    served = served_on_each_bus
    code = register(served, refusing_endpoint())
    [letter] = dead_letters(served, code, 1)
    page = signed_in("operator", lang="en", on=served)
    page.click("nav >> text=Dead letters")
    page.fill("#search input[name=agency]", code)
    page.click("#search button")
    row = page.locator(f"tr[data-delivery='{letter['delivery_id']}']")
    expect(row).to_contain_text("Dead")
    expect(row).to_contain_text("ConnectError")
    visits.shot(page, "dead-letters")

    register(served, {"kind": "pull"}, code)  # the recipient is reachable again
    row.locator("button.replay-one").click()
    expect(page.locator("#replayed")).to_be_visible()
    eventually(lambda: delivered(served, letter["document_id"], code), "delivery after replay")

    with served.client("auditor") as client:
        entries = client.get(
            "/v1/audit/entries",
            params={"document_id": letter["document_id"], "type": "delivery.replayed"},
        ).json()["entries"]
    [replayed] = entries
    actor = replayed["event"]["actor"]
    assert actor.startswith("operator:")
    page.reload()
    expect(page.locator("#state")).to_contain_text("Delivered")
    expect(page.locator("#steps tr[data-type='delivery.replayed'] .actor")).to_have_text(actor)
    page.goto("/ui/registry")
    expect(page.locator(f"tr[data-token='{actor.removeprefix('operator:')}']")).to_contain_text(
        "Operator"
    )


def test_replaying_every_matching_dead_letter_is_confirmed_with_the_count(
    signed_in: SignIn, served: Served
) -> None:
    code = register(served, refusing_endpoint())
    letters = dead_letters(served, code, 3)
    page = signed_in("operator", lang="en")
    page.goto(f"/ui/dead-letters?agency={code}")
    page.click("#replay-matching")
    expect(page.locator("#replay-count")).to_have_attribute("data-count", "3")
    expect(page.locator("#replay-count")).to_have_text("This filter matches 3 dead letters.")
    expect(page.locator("#confirm-replay button")).to_have_text("Replay 3 dead letters")

    register(served, {"kind": "pull"}, code)
    page.click("#confirm-replay button")
    expect(page).to_have_url(re.compile(r"/ui/dead-letters/jobs/"))
    expect(page.locator("#replay-finished")).to_be_visible()
    expect(page.locator("#replayed-count")).to_have_text("3")
    eventually(
        lambda: all(delivered(served, letter["document_id"], code) for letter in letters),
        "every bulk-replayed delivery delivered",
    )


def test_the_agencies_pages_show_health_and_traffic(
    signed_in: SignIn, served: Served, visits: Visits
) -> None:
    code = register(served, refusing_endpoint())
    dead_letters(served, code, 1)
    page = signed_in("operator", lang="en")
    page.click("nav >> text=Agencies")
    row = page.locator(f"#agencies tr[data-agency='{code}']")
    expect(row.locator("td.dead")).to_have_text("1")
    page.fill("#agency-filter input[name=q]", code)
    page.click("#agency-filter button")
    expect(page.locator("#agencies tbody tr")).to_have_count(1)
    page.click("#agencies th a:text-is('Dead')")  # sort by dead letters, most first
    expect(page).to_have_url(re.compile(r"sort=dead"))
    page.click(f"a:text-is('{code}')")
    expect(page.locator("#health-dead")).to_have_text("1")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    page.click("#deliveries tbody tr a >> nth=0")  # a delivery's page: its attempts
    expect(page.locator("#steps tr[data-type='delivery.attempted']")).to_contain_text(
        "ConnectError"
    )
    page.goto(f"/ui/deliveries?agency={code}&state=dead")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    page.goto("/ui/deliveries?since=not-a-time")
    expect(page.locator("main .error")).to_be_visible()


def test_a_token_created_in_the_console_is_shown_once_works_and_is_revoked(
    signed_in: SignIn, served: Served
) -> None:
    page = signed_in("operator", lang="en")
    page.goto("/ui/registry")
    expect(page.locator("#registry-agencies tr[data-agency] .secret").first).to_be_visible()
    page.select_option("#create-token select[name=role]", "auditor")
    page.fill("#create-token input[name=label]", "console test")
    page.click("#create-token button")
    token = page.locator("#new-token").input_value()
    token_id = page.locator("#new-token-id").inner_text()
    assert token.startswith("axt_")

    def tree(secret: str) -> int:
        headers = {"Authorization": f"Bearer {secret}"}
        return httpx.get(f"{served.base_url}/v1/audit/tree", headers=headers).status_code

    assert tree(token) == 200
    page.goto("/ui/registry")
    assert token not in page.content()  # never shown again
    page.locator(f"tr[data-token='{token_id}'] button.revoke").click()
    expect(page.locator(f"tr[data-token='{token_id}'] .revoked")).not_to_be_empty()
    assert tree(token) == 401
    with served.client("auditor") as client:
        types = [
            entry["type"]
            for entry in client.get("/v1/audit/entries", params={"type": "token.revoked"}).json()[
                "entries"
            ]
            if entry["event"]["data"]["token_id"] == token_id
        ]
    assert types == ["token.revoked"]


def test_an_agency_session_cannot_open_the_operator_pages(signed_in: SignIn) -> None:
    page = signed_in(SENDER)
    for path in (*OPERATOR_PAGES, f"/ui/agencies/{SENDER}", "/ui/dead-letters/replay"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
    csrf = page.locator("input[name=csrf]").first.input_value()
    for path, form in (
        ("/ui/registry/tokens", {"role": "operator"}),
        (f"/ui/agencies/{SENDER}/ping", {}),
        ("/ui/dead-letters/replay", {"agency": SENDER}),
    ):
        answer = page.request.post(path, form={"csrf": csrf, **form})
        assert answer.status == 403, path


def test_a_post_without_the_csrf_token_is_refused(signed_in: SignIn) -> None:
    page = signed_in("operator", lang="en")
    page.goto("/ui/registry")
    tokens = page.locator("#registry-tokens tbody tr").count()
    for path, form in (
        ("/ui/registry/tokens", {"role": "operator"}),
        ("/ui/dead-letters/replay", {"agency": SENDER}),
    ):
        answer = page.request.post(path, form=form)
        assert answer.status == 403, path
        assert "CSRF" in answer.text()
    page.reload()
    expect(page.locator("#registry-tokens tbody tr")).to_have_count(tokens)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The agency side's push receiver (`adapters.receiver`) as an agency runs it, in its
    own process: its URL and the folder it stores deliveries in."""
    folder, port = tmp_path / "received", free_port()
    environment = os.environ | {"AXIS_PUSH_DIR": str(folder), "AXIS_PUSH_SECRET": SECRET}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "adapters.receiver:app_from_environment",
    ]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
    )
    try:

        def listening() -> bool:
            assert process.poll() is None, "the receiver stopped"
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        eventually(listening, "push receiver listening")
        yield f"http://127.0.0.1:{port}/", folder
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_test_delivery_reaches_the_agency_signed_by_the_axis_and_is_audited(
    signed_in: SignIn, served: Served, receiver: tuple[str, Path]
) -> None:
    url, folder = receiver
    code = register(served, {"kind": "push", "url": url, "secret": SECRET})
    page = signed_in("operator", lang="en")
    page.goto(f"/ui/agencies/{code}")
    page.click("#ping-form button")
    expect(page.locator("#ping-outcome")).to_have_attribute("data-outcome", "delivered")
    [envelope_file] = folder.glob("ping-*.edxml")
    ping_id = envelope_file.name.removesuffix(".edxml")
    envelope = envelope_file.read_bytes()
    evidence = (folder / f"{ping_id}.evidence.xml").read_bytes()
    record = verify_evidence(evidence, served.keys.axis.certificate, original=envelope)
    assert record.recipients == (code,)
    with served.client("auditor") as client:

        def pinged() -> list[dict[str, Any]]:
            answer = client.get(
                "/v1/audit/entries", params={"agency": code, "type": "agency.pinged"}
            )
            return answer.json()["entries"]  # type: ignore[no-any-return]

        [entry] = eventually(pinged, "the agency.pinged audit entry")
    assert entry["event"]["actor"].startswith("operator:")
    assert entry["event"]["data"]["ping_id"] == ping_id
    assert entry["event"]["data"]["outcome"] == "delivered"

    refusing = register(served, refusing_endpoint())  # and one whose endpoint is down
    page.goto(f"/ui/agencies/{refusing}")
    page.click("#ping-form button")
    expect(page.locator("#ping-outcome")).to_have_attribute("data-outcome", "retry")
    expect(page.locator("#ping-error")).to_contain_text("ConnectError")
