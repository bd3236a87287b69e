"""The browser tests' harness: Debian's Chromium driven by Playwright, a real `axis serve`,
and a signed-in page per role.

Chromium is `/usr/bin/chromium` (`apt-get install chromium`, as `scripts/test` does);
Playwright never downloads a browser here. Without Chromium the browser tests are skipped,
except under CI=true where they fail, as the Kafka and PostgreSQL fixtures do. Every page a
test visits is saved under `test-artifacts/screenshots/` (git-ignored).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_harness import Served, SignIn, Visits, serve
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = Path("/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Per module, not per session: while Playwright's sync API runs, its event loop is this
    thread's running loop, and the async tests of other modules need the thread back."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium from Debian (never one Playwright would download)."""
    if not CHROMIUM.exists():
        _unavailable(f"no browser at {CHROMIUM}: apt-get install chromium")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `axis serve` on the embedded bus for the browser tests."""
    yield from serve(tmp_path_factory.mktemp("console"), {})


@pytest.fixture(scope="session")
def served_on_kafka(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[Served]:
    """One `axis serve` on Kafka (topics of its own), for the tests that run on both buses."""
    env = {
        "AXIS_BUS": "kafka",
        "AXIS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AXIS_TOPIC_NAMESPACE": f"console-{uuid.uuid4().hex[:12]}",
    }
    yield from serve(tmp_path_factory.mktemp("console-kafka"), env)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def served_on_each_bus(request: pytest.FixtureRequest) -> Served:
    """`served`, then `served_on_kafka`."""
    name = "served" if request.param == "embedded" else "served_on_kafka"
    found: Served = request.getfixturevalue(name)
    return found


@pytest.fixture
def visits(request: pytest.FixtureRequest) -> Visits:
    return Visits(request.node.name)


@pytest.fixture
def signed_in(browser: Browser, served: Served, visits: Visits) -> Iterator[SignIn]:
    """`signed_in(role_or_agency)`: a new browser context signed in through the sign-in
    page, by the link an operator is handed (`/ui/sign-in#token=...`); `on=` another
    served axis than the session's."""
    contexts = []

    def sign_in(
        as_: str, *, javascript: bool = True, lang: str = "vi", on: Served | None = None
    ) -> Page:
        axis = on or served
        context = browser.new_context(
            base_url=axis.base_url, java_script_enabled=javascript, locale=lang
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("load", lambda loaded: visits.shot(loaded))
        page.goto(f"/ui/sign-in#token={axis.tokens[as_]}")
        if not javascript:
            page.fill("#token", axis.tokens[as_])
        page.click("#sign-in button")
        page.wait_for_url(re.compile(r"/ui/$"))
        return page

    yield sign_in
    for context in contexts:
        for page in context.pages:  # where the test left it (a last load may not be shot yet)
            try:
                visits.shot(page, "last")
            except PlaywrightTimeoutError:  # evidence, not a check: a busy machine's browser
                where = page.url.split("#")[0]  # may not paint in time (never the token)
                print(f"no last screenshot of {where}: it timed out")
        context.close()
