"""`/metrics` on each bus and database: the series behind the console and the Grafana
dashboard move when documents are sent, refused, delivered, acknowledged and dead-lettered;
every series the dashboard queries is one the axis exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from push_endpoint import free_port
from running_axis import OTHER, RECIPIENT, Axis
from test_delivery import eventually, inbox
from test_delivery_failures import dead_letters
from test_push import push_to, send

from axis.api.metrics import CONSUMER_GROUPS
from axis.app import serving_metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "edoc-axis.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(axis: Axis) -> Samples:
    response = await axis.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One series' value; 0 for a labelled series not exported yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample_name, labels in samples if sample_name == name]


async def test_the_series_move_with_the_documents(axis: Axis) -> None:
    before = await scrape(axis)
    await push_to(axis, f"http://127.0.0.1:{free_port()}/", max_attempts=1)
    document_id, _ = await send(axis, "metrics,1", [RECIPIENT, OTHER])
    refused = await axis.send(OTHER, b"<not-edxml")
    assert refused.status_code == 400

    [entry] = await eventually(lambda: inbox(axis, OTHER), "the pulled delivery")
    ack = await axis.request(
        "POST", f"/v1/inbox/{entry['delivery_id']}/ack", OTHER, json={"result": "done"}
    )
    assert ack.status_code == 200
    [dead] = await eventually(lambda: dead_letters(axis), "the dead letter")
    assert dead["document_id"] == document_id

    async def checkpointed() -> Samples | None:
        samples = await scrape(axis)
        signed = value(samples, "axis_audit_checkpoint_size")
        return samples if signed and signed == value(samples, "axis_audit_log_entries") else None

    after = await eventually(checkpointed, "a checkpoint of the whole log")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    document = {"kind": "document"}
    assert moved("axis_documents_total", **document, result="accepted", reason="") == 1
    assert moved("axis_documents_total", **document, result="rejected", reason="not_well_formed")
    for outcome, times in [("queued", 2), ("delivered", 1), ("acked_done", 1), ("dead", 1)]:
        assert moved("axis_deliveries_total", kind="edoc", outcome=outcome) == times, outcome
    assert moved("axis_delivery_latency_seconds_count", kind="edoc", adapter="pull") == 1
    assert moved("axis_delivery_latency_seconds_bucket", kind="edoc", adapter="pull", le="+Inf")
    assert value(after, "axis_dead_letters") == 1
    assert value(after, "axis_audit_log_entries") > value(before, "axis_audit_log_entries")
    assert 0 <= value(after, "axis_audit_checkpoint_age_seconds") < 60
    lags = series(after, "axis_consumer_lag")
    assert {lag["group"] for lag in lags} == set(CONSUMER_GROUPS)
    assert {"audit-writer", "events", "0"} in [set(lag.values()) for lag in lags]


SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}


async def test_every_series_the_dashboard_queries_is_exported(axis: Axis) -> None:
    """By family, so a labelled series that has not happened yet (no delivery so far) counts:
    its family is declared in the output all the same."""
    text = (await axis.client.get("/metrics")).text
    exported = {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, [""])
    }
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert len(queries) >= 8
    queried = {name for query in queries for name in re.findall(r"\baxis_[a-z_]+", query)}
    assert queried, "the dashboard queries the axis's series"
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"


async def test_a_worker_process_serves_its_own_counters() -> None:
    """`axis worker` counts the deliveries it makes: with AXIS_WORKER_METRICS_PORT it serves
    them, and stops serving with the process's workers."""
    port = free_port()
    async with serving_metrics(port), httpx.AsyncClient() as client:
        scraped = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert scraped.status_code == 200
    families = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert {"axis_deliveries", "axis_delivery_latency_seconds"} <= families
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/metrics")
