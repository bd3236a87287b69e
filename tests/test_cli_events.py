"""Registry and token changes made with the `axis` command are audit events on the
configured bus (each bus and database): by `cli:<user name>`, from the host name, without
secrets. A change the bus cannot record is not made."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from axis import cli
from axis.audit.writer import append_events
from axis.bus import BusError, Message, Position, Record
from axis.bus.embedded import EmbeddedBus
from axis.bus.factory import create_bus
from axis.bus.topics import EVENTS
from axis.config import Settings
from axis.storage.database import create_engine, create_session_factory
from signing.devca import create_dev_ca, issue_agency_certificate
from signing.keys import certificate_pem

HANOI = "000.00.00.H26"
DISTRICT = "000.00.05.H26"
SECRET = "shared-with-hanoi-0123"
ROTATED = "shared-with-hanoi-rotated-4567"
USER = "nguyen.van.a"
DEADLINE = 60.0


def country(name: str, secret: str) -> str:
    return json.dumps(
        [
            {"code": DISTRICT, "name": "UBND Quận Hoàn Kiếm", "level": "district",
             "parent_code": HANOI},
            {"code": HANOI, "name": name, "level": "province",
             "delivery": {"kind": "push", "url": "https://dms.hanoi.example/edoc",
                          "secret": secret}},
        ]
    )  # fmt: skip


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    if request.param == "kafka":
        return Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            bus="kafka",
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            topic_namespace=f"test-{uuid.uuid4().hex[:12]}",
        )
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


def environment(settings: Settings) -> dict[str, str]:
    """The AXIS_* variables that make the command use `settings`, run by USER."""
    names = ("data_dir", "database_url", "bus", "kafka_bootstrap", "topic_namespace")
    values = settings.model_dump(include=set(names))
    env = {f"AXIS_{name.upper()}": str(values[name]) for name in names}
    return env | {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOGNAME": USER}


async def axis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`axis ARGS` in a process of its own; it must succeed."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "axis.cli", *args],
        env=environment(settings),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done


async def events_until(settings: Settings, last_type: str) -> list[Record]:
    """Every record of the events topic, up to the first event of `last_type`."""
    bus = create_bus(settings)
    await bus.start()
    records: list[Record] = []
    try:
        async with bus.consumer(f"test-{uuid.uuid4().hex}", [EVENTS]) as consumer:
            end = time.monotonic() + DEADLINE
            while not any(json.loads(r.value)["type"] == last_type for r in records):
                assert time.monotonic() < end, f"never on the bus: {last_type}"
                records += await consumer.getmany(max_wait=0.5, max_records=100)
    finally:
        await bus.close()
    return records


async def test_cli_changes_are_events(settings: Settings, tmp_path: Path) -> None:
    agencies = tmp_path / "country.json"
    agencies.write_text(country("UBND Thành phố Hà Nội", SECRET), encoding="utf-8")
    await axis(settings, "agencies", "import", str(agencies))
    issued = issue_agency_certificate(create_dev_ca(), HANOI).certificate
    pem = tmp_path / "hanoi.pem"
    pem.write_bytes(certificate_pem(issued))
    await axis(settings, "agencies", "certificate", HANOI, str(pem))
    created = await axis(
        settings, "tokens", "create", "--role", "agency", "--agency", HANOI, "--label", "DMS"
    )
    token_id, secret = (line.split(": ", 1)[1] for line in created.stdout.splitlines()[:2])
    await axis(settings, "tokens", "revoke", token_id)
    await axis(settings, "tokens", "revoke", token_id)  # nothing changes: no event
    await axis(settings, "agencies", "import", str(agencies))  # the same: no event
    agencies.write_text(country("Hà Nội", ROTATED), encoding="utf-8")
    await axis(settings, "agencies", "import", str(agencies))

    records = await events_until(settings, "agency.changed")
    events: list[dict[str, Any]] = [json.loads(record.value) for record in records]
    assert [(e["type"], e["agency_code"]) for e in events] == [
        ("agency.created", HANOI),
        ("agency.created", DISTRICT),
        ("certificate.registered", HANOI),
        ("token.created", HANOI),
        ("token.revoked", HANOI),
        ("agency.changed", HANOI),
    ]
    assert {(e["actor"], e["data"]["from"]) for e in events} == {
        (f"cli:{USER}", socket.gethostname())
    }
    hanoi, district, certificate, token, revoked, changed = (e["data"] for e in events)
    assert hanoi["record"]["delivery.secret"] == "<redacted>"
    assert district["record"]["parent_code"] == HANOI
    assert certificate["subject"] == issued.subject.rfc4514_string()
    assert token == {"from": socket.gethostname(), "token_id": token_id, "role": "agency",
                     "label": "DMS"}  # fmt: skip
    assert revoked["token_id"] == token_id
    assert revoked["revoked_at"]
    assert changed["changes"] == {
        "name": {"before": "UBND Thành phố Hà Nội", "after": "Hà Nội"},
        "delivery.secret": {"before": "<redacted>", "after": "<redacted>"},
    }
    text = json.dumps(events)
    for leaked in (SECRET, ROTATED, secret, "BEGIN CERTIFICATE"):
        assert leaked not in text

    engine = create_engine(settings.resolved_database_url)
    try:
        assert await append_events(create_session_factory(engine), records) == len(records)
    finally:
        await engine.dispose()


class UnrecordingBus(EmbeddedBus):
    """The embedded bus, except that it never confirms a publish."""

    async def publish_many(self, messages: Sequence[Message]) -> list[Position]:
        raise BusError("the bus did not confirm")


def test_a_cli_change_the_bus_cannot_record_is_not_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli, "create_bus", lambda s: UnrecordingBus(s.resolved_bus_path))
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["tokens", "create", "--role", "operator"])
    assert refused.exit_code == 2
    assert "nothing was changed" in refused.output
    assert "token:" not in refused.output
    listed = runner.invoke(cli.app, ["tokens", "list"])
    assert (listed.exit_code, listed.output) == (0, "")
