"""The overview's figures and its banner: which thresholds a sample crosses, and the first
render (no JavaScript) showing them for a real axis."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from envelopes import document
from running_axis import RECIPIENT, SENDER, Axis, start_axis

from axis.config import Settings
from axis.console.figures import PartitionLag, Sample
from signing.xmldsig import sign_envelope

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SETTINGS = Settings(
    console_alert_lag_records=100,
    console_alert_latency_p99_seconds=5,
    console_alert_unsigned_seconds=60,
    console_alert_dead_letters=3,
)


def sample(**changes: object) -> Sample:
    figures: dict[str, object] = {
        "seq": 1,
        "at": 0.0,
        "rates": dict.fromkeys(("accepted", "rejected", "delivered", "retrying", "dead"), 0.0),
        "latency_p50": 0.1,
        "latency_p99": 0.2,
        "lags": (PartitionLag("delivery", "deliveries", 0, 3),),
        "log_size": 10,
        "checkpoint_age": 1.0,
        "unsigned_for": 0.0,
        "dead_letters": 0,
    }
    return Sample(**(figures | changes))  # type: ignore[arg-type]


def test_a_sample_within_every_threshold_raises_no_alert() -> None:
    assert sample().alerts(SETTINGS) == []


@pytest.mark.parametrize(
    ("changes", "alert"),
    [
        ({"lags": (PartitionLag("delivery", "deliveries", 1, 100),)}, "alert_lag"),
        ({"latency_p99": 5.5}, "alert_latency"),
        ({"unsigned_for": 61.0}, "alert_unsigned"),
        ({"dead_letters": 3}, "alert_dead_letters"),
    ],
)
def test_each_threshold_crossed_raises_its_alert(changes: dict[str, object], alert: str) -> None:
    assert [key for key, _ in sample(**changes).alerts(SETTINGS)] == [alert]


def test_group_lags_add_up_partitions() -> None:
    lags = (
        PartitionLag("delivery", "deliveries", 0, 3),
        PartitionLag("delivery", "deliveries", 1, 4),
        PartitionLag("audit-writer", "events", 0, 2),
    )
    totals = sample(lags=lags).group_lags()
    assert totals["delivery"] == 7 and totals["audit-writer"] == 2 and totals["router"] == 0
    assert sample(lags=lags).audit_lag == 2


@pytest.fixture
async def axis(migrated_data_dir: Path) -> AsyncIterator[Axis]:
    settings = Settings(
        data_dir=migrated_data_dir,
        bus_partitions=1,
        checkpoint_every_entries=100_000,
        checkpoint_interval_seconds=3600,
        console_sample_seconds=0.05,
        console_alert_unsigned_seconds=0.01,
    )
    async for running in start_axis(settings):
        yield running


async def test_the_first_render_shows_the_figures_and_the_banner(axis: Axis) -> None:
    envelope = document(SENDER, [RECIPIENT], "000.00.00.G22,2026/12/03,1/FIG")
    assert (await axis.send(SENDER, sign_envelope(envelope, axis.key(SENDER)))).status_code == 202
    transport = httpx.ASGITransport(app=axis.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axis") as browser:
        [csrf] = CSRF.findall((await browser.get("/ui/sign-in")).text)
        data = {"token": axis.tokens["operator"], "csrf": csrf}
        await browser.post("/ui/sign-in", data=data)
        async with asyncio.timeout(20):
            while True:  # until the audit writer has the document's entries
                page = (await browser.get("/ui/overview")).text
                size = re.search(r'id="log-size">(\d+)<', page)
                if size and int(size.group(1)) >= 3 and 'role="alert"' in page:
                    break
                await asyncio.sleep(0.05)  # polling a background writer, under the timeout
    assert "chưa được ký" in page  # the unsigned-entries alert, in Vietnamese
    assert 'id="rate-accepted">' in page and 'sse-connect="/ui/overview/events?after=' in page
