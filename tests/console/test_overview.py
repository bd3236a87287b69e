"""The operator's overview in a real browser against a real `axis serve`: numbers on the
first render, then counters and charts that move as documents are sent, without a reload."""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from console_harness import Served, SignIn, Visits, serve
from envelopes import document
from playwright.sync_api import expect
from running_axis import RECIPIENT, SENDER

from signing.xmldsig import sign_envelope

SENT = itertools.count(1)


def send_documents(served: Served, count: int) -> None:
    """`count` real signed documents from SENDER to RECIPIENT through the API."""
    with served.client(SENDER) as client:
        for _ in range(count):
            n = next(SENT)
            envelope = document(SENDER, [RECIPIENT], f"000.00.00.G22,2026/12/03,{n}/UI")
            body = sign_envelope(envelope, served.keys.agencies[SENDER])
            answer = client.post(
                "/v1/documents", content=body, headers={"Content-Type": "application/xml"}
            )
            assert answer.status_code == 202, answer.text


@contextmanager
def sending(served: Served) -> Iterator[None]:
    """Documents sent steadily, a few a second, while the block runs."""
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            send_documents(served, 1)
            stop.wait(0.1)  # a steady pace, not a synchronisation

    sender = threading.Thread(target=send)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join()


@pytest.fixture(scope="module", params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def each_bus(
    request: pytest.FixtureRequest, served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The session's served axis (embedded bus), and one on a real Kafka broker."""
    if request.param == "embedded":
        yield served
        return
    env = {
        "AXIS_BUS": "kafka",
        "AXIS_KAFKA_BOOTSTRAP": request.getfixturevalue("kafka_bootstrap"),
        "AXIS_TOPIC_NAMESPACE": f"console-{uuid.uuid4().hex[:12]}",
    }
    yield from serve(tmp_path_factory.mktemp("console-kafka"), env)


def test_the_overview_moves_while_documents_are_sent(
    signed_in: SignIn, each_bus: Served, visits: Visits
) -> None:
    served = each_bus
    page = signed_in("operator", lang="en", on=served)
    page.click("nav >> text=Overview")
    expect(page.locator("#live")).to_have_attribute("data-samples", re.compile(r"\d+"))
    page.evaluate("window.notReloaded = true")
    log_size = page.locator("#log-size").inner_text()
    samples = int(page.locator("#live").get_attribute("data-samples") or 0)

    with sending(served):
        expect(page.locator("#log-size")).not_to_have_text(log_size)
        expect(page.locator("#rate-accepted")).not_to_have_text("0.00")
        expect(page.locator("#rate-delivered")).not_to_have_text("0.00")
        expect(page.locator("#latency-p50")).to_have_text(re.compile(r"\d+\.\d+ s"))
        visits.shot(page, "overview-live")
    later = int(page.locator("#live").get_attribute("data-samples") or 0)
    assert later > samples  # the charts got new points
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#rates-chart canvas").count() == 1


def test_an_agency_session_cannot_open_the_overview(signed_in: SignIn, visits: Visits) -> None:
    page = signed_in(SENDER)
    assert page.locator("nav a").count() == 0  # no page of an operator offered to it
    answer = page.goto("/ui/overview")
    assert answer is not None and answer.status == 403
    expect(page.locator("main h1")).to_have_text("Không có quyền truy cập")
    answer = page.goto("/ui/overview/events")
    assert answer is not None and answer.status == 403


def test_the_overview_renders_without_javascript(signed_in: SignIn, served: Served) -> None:
    send_documents(served, 1)
    page = signed_in("operator", javascript=False)
    page.goto("/ui/overview")
    expect(page.locator("main h1")).to_contain_text("Tổng quan hệ thống")
    expect(page.locator("#log-size")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#lag-table td[data-group=delivery]")).to_have_text(re.compile(r"^\d+$"))
    assert page.locator("#rates-chart canvas").count() == 0  # the charts are JavaScript's
