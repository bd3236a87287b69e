"""The audit log: the writer's sustained append rate, offline verification of a
1,000,000-entry bundle, and search by document id at 1,000,000 entries.

    python bench/audit.py [--entries 200000] [--log-entries 1000000] [--queries 2000]
                          [--export-entries 100000] [--phases writer,verify,search]
                          [--databases postgresql,sqlite] [--bus embedded|kafka]
                          [--kafka HOST:PORT] [--pg-fsync on|off] [--work-dir DIR]
                          [--seed 1] [--quick]

A throwaway PostgreSQL is started with deploy/postgres/launcher.py (its fsync, off there,
is turned back on unless `--pg-fsync off`: these are durability figures) and removed after.
The events are made up but shaped like the real ones: ~90,000 documents of ~11 events
each (received, verified, accepted, then per recipient queued, attempted and delivered, or
delivered and acked, and for half of them a status back with its own delivery), with ids,
agency codes, SHA-256s and delivery ids, each document's events spread over seconds to
hours as they would happen, so one document's entries are scattered through the log.

1. writer: `--entries` events are published beforehand on the bus (embedded by default),
   then `axis.audit.writer.write_forever` runs against a freshly migrated database with a
   checkpoint every 1000 entries until every event is in the log (polled every 50 ms).
   Printed: entries per second over the whole run and over its second half (sustained),
   per fifth of the run, and CPU ms per 1000 entries of this process (the writer and the
   embedded bus) and of PostgreSQL's processes. Once on PostgreSQL and once on SQLite, for
   a ratio. The last checkpoint's root is checked against the events as published.
2. verify: a `--log-entries` bundle (format `edoc-axis/audit-bundle/1`, a checkpoint every
   1000 entries signed with a development key, consistency proofs between them) is written
   directly from the generated log, then verified by `axis audit verify FILE --certificate
   CERT.pem` in its own process (when this checkout has the command) and by the in-process
   `BundleVerifier`. Printed: seconds, entries per second, file size. With the search
   phase, the last `--export-entries` entries are also exported from PostgreSQL as
   `GET /v1/audit/export` does, timed, verified, and compared line for line with the
   generated bundle (which checks the generator against the real exporter).
3. search: the same log goes into PostgreSQL with COPY (and its checkpoints), then VACUUM
   ANALYZE and CHECKPOINT; `merkle.root` over the database fills the subtree cache (as the
   writer's checkpoints would have) and must give the last checkpoint's root. Then
   `axis serve --only-api` runs on it and `--queries` random document ids are asked for,
   one request at a time with an auditor token: `GET /v1/audit/entries?document_id=` and
   `GET /v1/audit/documents/{id}/timeline`; and the search's query straight in SQL
   (asyncpg, prepared), and `GET /v1/audit/checkpoints?limit=1` as the baseline cost of an
   authenticated request. Printed: p50/p95/p99 and the API process's CPU per request.

The machine's load average and the commit measured are printed with the figures: other
work on the machine shows in them.

`--quick` runs everything small (under a minute) to check that the bench itself works.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import logging
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from cryptography import x509
from ingest import free_port, start_server
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from axis.audit import merkle
from axis.audit.bundle import FORMAT, b64, bundle_lines, bundle_range
from axis.audit.checkpoints import Checkpointer
from axis.audit.entries import audit_entry
from axis.audit.merkle import MerkleTree, leaf_hash
from axis.audit.tree import DatabaseLeafStore
from axis.audit.verify import BundleVerifier, Report
from axis.audit.writer import write_forever
from axis.bus.factory import create_bus
from axis.bus.topics import EVENTS
from axis.config import Settings
from axis.credentials import create_token
from axis.events import Event, canonical_json, event_message
from axis.storage.database import create_engine, create_session_factory, migrate
from axis.storage.models import AuditCheckpoint, AuditEntry, AuditSubtree, Role
from signing.checkpoints import Checkpoint, sign_checkpoint
from signing.devkeys import load_or_create_dev_keys
from signing.keys import CertifiedKey, certificate_pem
from signing.signer import Signer

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "edoc-axis/audit"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COPY_CHUNK = 50_000
"""Rows per COPY while loading the search database."""
ALGORITHM = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
COLUMNS = (
    "position",
    "event_id",
    "entry",
    "leaf_hash",
    "event_type",
    "document_id",
    "agency_code",
    "at",
)
SEARCH_SQL = (
    "SELECT position, event_id, entry, leaf_hash, event_type, document_id, agency_code, at "
    "FROM audit_entries WHERE position > $2 AND document_id = $1 ORDER BY position LIMIT 101"
)
"""What `GET /v1/audit/entries?document_id=` asks for an auditor (limit 100, plus one)."""
SEARCH_WHAT = "GET /v1/audit/entries?document_id="
TIMELINE_WHAT = "GET /v1/audit/documents/{id}/timeline"
SQL_WHAT = "the search's query in SQL (asyncpg, prepared)"
BASELINE_WHAT = "baseline: GET /v1/audit/checkpoints?limit=1"


def code_version() -> str:
    """The commit measured, and the files of the code under test changed since it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip()

    changed = git("status", "--porcelain", "--", "axis", "signing").splitlines()
    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    if not changed:
        return f"commit {head}"
    return f"commit {head} + uncommitted changes to " + ", ".join(c[3:] for c in changed)


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def proc_cpu(pid: int, *, children: bool = False) -> float:
    """utime + stime of `pid` (and of its waited-for children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def server_cpu(postmaster: int) -> float:
    """CPU seconds of PostgreSQL: the postmaster, its exited children and its live ones."""
    total = proc_cpu(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def mib(size: int) -> float:
    return size / 2**20


def file_size(path: Path) -> int:
    return path.stat().st_size


def _line(value: dict[str, Any]) -> bytes:
    """One bundle line, serialised as `axis.audit.bundle` does."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


# --------------------------------------------------------------------------- the made-up log


@dataclass
class Document:
    id: str
    sender: str
    sender_kind: str
    recipients: list[tuple[str, str]]
    """(agency code, delivery kind) per recipient."""


@dataclass
class LogPlan:
    """A log of made-up but realistic events: which document step happens when."""

    documents: list[Document]
    steps: list[tuple[float, int, int, int]]
    """(seconds since the start, document index, recipient index or -1, step), in log order."""
    start: datetime
    rng: random.Random

    def entry_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, doc, _, _ in self.steps:
            key = self.documents[doc].id
            counts[key] = counts.get(key, 0) + 1
        return counts

    def events(self) -> Iterator[tuple[dict[str, Any], datetime]]:
        """Each step as the event dict the axis would publish (`Event.model_dump(mode="json")`
        form), with its time."""
        rng = self.rng
        delivery_ids: dict[tuple[int, int, str], str] = {}
        status_ids: dict[tuple[int, int], str] = {}

        def new_id() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        def sha256() -> str:
            return rng.getrandbits(256).to_bytes(32, "big").hex()

        for offset, doc_index, recipient, step in self.steps:
            doc = self.documents[doc_index]
            at = self.start + timedelta(seconds=offset)
            event: dict[str, Any] = {
                "id": new_id(),
                "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "document_id": doc.id,
            }
            if recipient < 0:
                event["actor"] = f"agency:{doc.sender}"
                event["agency_code"] = doc.sender
                if step == 0:
                    event["type"] = "document.received"
                    event["data"] = {
                        "sha256": sha256(),
                        "size": rng.randint(8_000, 2_000_000),
                        "transport": "bearer",
                    }
                elif step == 1:
                    event["type"] = "document.verified"
                    event["data"] = {"certificate": sha256(), "algorithm": ALGORITHM}
                else:
                    event["type"] = "document.accepted"
                    event["data"] = {
                        "recipients": [code for code, _ in doc.recipients],
                        "business_doc_type": 0,
                    }
                yield event, at
                continue
            code, kind = doc.recipients[recipient]
            leg = "edoc" if step < 10 else "status"
            # an edoc leg goes to the recipient; a status leg comes back to the sender
            to, to_kind = (code, kind) if leg == "edoc" else (doc.sender, doc.sender_kind)
            key = (doc_index, recipient, leg)
            if step == 10:
                status_ids[doc_index, recipient] = new_id()
                event["type"] = "status.accepted"
                event["actor"] = f"agency:{code}"
                event["agency_code"] = code
                event["data"] = {
                    "status_id": status_ids[doc_index, recipient],
                    "status_code": rng.choice(("02", "03", "04", "05")),
                    "signed": True,
                    "sha256": sha256(),
                    "transport": "bearer",
                }
                yield event, at
                continue
            delivery_id = delivery_ids.setdefault(key, new_id())
            event["actor"] = f"agency:{to}" if step % 10 == 4 else "axis"
            event["agency_code"] = to
            data: dict[str, Any] = {"delivery_id": delivery_id, "kind": leg}
            stage = step % 10
            if stage == 1:
                event["type"] = "delivery.queued"
            elif stage == 2:
                event["type"] = "delivery.attempted"
                data |= {
                    "attempt": 1,
                    "http_status": 200,
                    "duration_ms": rng.randint(15, 400),
                    "error": None,
                }
            elif stage == 3:
                event["type"] = "delivery.delivered"
                data["adapter"] = to_kind
            else:
                event["type"] = "delivery.acked"
                data = {"delivery_id": delivery_id, "kind": leg, "result": "done", "reason": ""}
            event["data"] = data
            yield event, at


def plan_log(size: int, seed: int) -> LogPlan:
    """Documents arriving about every 7 s, each with its steps at realistic delays, until
    the log holds `size` events; in time order, cut at `size` (the newest documents have
    not finished yet, as in a live log)."""
    rng = random.Random(seed)
    agencies = [
        f"{a:03d}.{b:02d}.{c:02d}.{letter}{d:02d}"
        for a, b, c, letter, d in (
            (rng.randint(0, 99), rng.randint(0, 40), rng.randint(0, 30), rng.choice("GH"), n % 99)
            for n in range(600)
        )
    ]
    kinds = {code: "push" if rng.random() < 0.6 else "pull" for code in agencies}
    documents: list[Document] = []
    steps: list[tuple[float, int, int, int]] = []

    def leg(at: float, index: int, recipient: int, kind: str, base: int) -> float:
        """One delivery: queued, then attempted and delivered (push) or delivered and
        acked (pull); returns when it was delivered."""
        steps.append((at + 0.1, index, recipient, base + 1))
        if kind == "push":
            done = at + 0.3 + rng.expovariate(2)
            steps.append((done, index, recipient, base + 2))
            steps.append((done + 0.01, index, recipient, base + 3))
            return done
        done = at + rng.expovariate(1 / 120)
        steps.append((done, index, recipient, base + 3))
        steps.append((done + rng.expovariate(1), index, recipient, base + 4))
        return done

    clock = 0.0
    while len(steps) < size * 1.05 + 200:
        clock += rng.expovariate(1 / 7)
        sender = rng.choice(agencies)
        count = rng.choices((1, 2, 3, 4, 5), weights=(60, 25, 8, 4, 3))[0]
        recipients = [(code, kinds[code]) for code in rng.sample(agencies, count)]
        index = len(documents)
        document_id = str(uuid.UUID(int=rng.getrandbits(128), version=5))
        documents.append(Document(document_id, sender, kinds[sender], recipients))
        steps += [(clock, index, -1, 0), (clock + 0.02, index, -1, 1), (clock + 0.04, index, -1, 2)]
        for recipient, (_, kind) in enumerate(recipients):
            delivered = leg(clock + 0.04, index, recipient, kind, 0)
            if rng.random() < 0.5:  # the recipient answers with a status
                answered = delivered + rng.expovariate(1 / 1800)
                steps.append((answered, index, recipient, 10))
                leg(answered, index, recipient, kinds[sender], 10)
    steps.sort()
    del steps[size:]
    span = timedelta(seconds=steps[-1][0] + 60)
    return LogPlan(documents, steps, datetime.now(UTC) - span, rng)


# --------------------------------------------------------------------------- 1. the writer


@dataclass
class WriterResult:
    database: str
    entries: int
    publish_seconds: float
    seconds: float
    second_half_seconds: float
    fifths: list[float]
    """Entries per second in each fifth of the run."""
    cpu_seconds: float
    server_cpu_seconds: float | None
    checkpoints: int
    last_checkpoint: int

    @property
    def rate(self) -> float:
        return self.entries / self.seconds

    @property
    def sustained(self) -> float:
        return (self.entries - self.entries // 2) / self.second_half_seconds


def crossing(samples: list[tuple[float, int]], target: float) -> float:
    """When the log size reached `target`, interpolated between the polls around it."""
    previous = (0.0, 0)
    for moment, size in samples:
        if size >= target:
            (t0, s0), (t1, s1) = previous, (moment, size)
            return t0 + (t1 - t0) * (target - s0) / (s1 - s0) if s1 > s0 else t1
        previous = (moment, size)
    raise ValueError(f"the log never reached {target}")


async def log_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        last = await connection.scalar(select(func.max(AuditEntry.position)))
    return 0 if last is None else int(last) + 1


async def bench_writer(
    name: str,
    url: str,
    events: list[dict[str, Any]],
    args: argparse.Namespace,
    work_dir: Path,
    postmaster: int | None,
) -> WriterResult:
    settings = Settings(
        data_dir=work_dir,
        bus=args.bus,
        kafka_bootstrap=args.kafka or "127.0.0.1:9092",
        topic_namespace=f"bench-audit-{uuid.uuid4().hex[:8]}",
        database_url=url,
    )
    messages = [event_message(Event.model_validate(event)) for event in events]
    total = len(messages)
    async with create_bus(settings) as bus:
        await bus.create_topic(EVENTS, 1)
        started = time.perf_counter()
        for first in range(0, total, 1000):
            await bus.publish_many(messages[first : first + 1000])
        publish_seconds = time.perf_counter() - started
        await migrate(url)
        engine = create_engine(url)
        sessions = create_session_factory(engine)
        keys = load_or_create_dev_keys(settings.dev_key_dir)
        checkpointer = Checkpointer(Signer(keys.axis), ORIGIN, 1000, 60.0)
        samples: list[tuple[float, int]] = []
        cpu = time.process_time()
        server = server_cpu(postmaster) if postmaster else 0.0
        started = time.perf_counter()
        writer = asyncio.create_task(write_forever(bus, sessions, checkpointer))
        try:
            stalled_since, last_size = started, 0
            while True:
                await asyncio.sleep(0.05)
                size = await log_size(engine)
                now = time.perf_counter()
                samples.append((now - started, size))
                if size >= total:
                    break
                if writer.done():
                    writer.result()
                    raise RuntimeError("the writer stopped before the log was complete")
                if size > last_size:
                    stalled_since, last_size = now, size
                elif now - stalled_since > 120:
                    raise RuntimeError(f"the writer made no progress for 120 s at {size}")
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        cpu = time.process_time() - cpu
        server = server_cpu(postmaster) - server if postmaster else 0.0
        seconds = crossing(samples, total)
        half = crossing(samples, total // 2)
        marks = [0.0] + [crossing(samples, total * k / 5) for k in range(1, 6)]
        fifths = [total / 5 / (b - a) for a, b in itertools.pairwise(marks)]
        async with sessions() as session:
            checkpoints = list(
                await session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size))
            )
        await engine.dispose()
    if checkpoints:  # the log holds the events as published, in order
        last = checkpoints[-1]
        tree = MerkleTree(
            leaf_hash(audit_entry(p, json.loads(m.value)))
            for p, m in enumerate(messages[: last.size])
        )
        if tree.root() != last.root:
            raise RuntimeError(f"{name}: checkpoint {last.size}'s root is not that of the events")
    return WriterResult(
        database=name,
        entries=total,
        publish_seconds=publish_seconds,
        seconds=seconds,
        second_half_seconds=seconds - half,
        fifths=fifths,
        cpu_seconds=cpu,
        server_cpu_seconds=server if postmaster else None,
        checkpoints=len(checkpoints),
        last_checkpoint=checkpoints[-1].size if checkpoints else 0,
    )


def print_writer(results: list[WriterResult], args: argparse.Namespace) -> None:
    print(
        f"\n1. audit writer: {results[0].entries:,} events pre-published on the {args.bus} bus, "
        "write_forever until all are in, a checkpoint every 1000 entries"
    )
    print(
        f"{'database':<11} {'entries/s':>10} {'2nd half/s':>11} {'s':>7} {'writer CPU':>11} "
        f"{'DB CPU':>8} {'ckpts':>6}   entries/s by fifth of the run"
    )
    print(f"{'':<11} {'':>10} {'':>11} {'':>7} {'ms/1k':>11} {'ms/1k':>8}")
    for r in results:
        db_cpu = (
            "-" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds / r.entries * 1e6:.0f}"
        )
        fifths = " ".join(f"{rate:,.0f}" for rate in r.fifths)
        print(
            f"{r.database:<11} {r.rate:>10,.0f} {r.sustained:>11,.0f} {r.seconds:>7.1f} "
            f"{r.cpu_seconds / r.entries * 1e6:>11.0f} {db_cpu:>8} {r.checkpoints:>6}   {fifths}"
        )  # fmt: skip
    rates = {r.database: r for r in results}
    if "PostgreSQL" in rates and "SQLite" in rates:
        ratio = rates["PostgreSQL"].sustained / rates["SQLite"].sustained
        print(f"PostgreSQL / SQLite sustained rate: {ratio:.2f}")
    print(
        "(publishing them beforehand took "
        + ", ".join(f"{r.publish_seconds:.1f} s" for r in results)
        + "; not counted)"
    )


# --------------------------------------------------------------------------- the 1M log


@dataclass
class GeneratedLog:
    entries: int
    checkpoints: int
    seconds: float
    copy_seconds: float
    bundle: Path | None
    bundle_bytes: int


async def generate_log(
    plan: LogPlan,
    signer: CertifiedKey,
    every: int,
    bundle: Path | None,
    connection: asyncpg.Connection | None,
) -> GeneratedLog:
    """Write the planned log as a bundle file and/or COPY it into `connection`'s
    audit_entries and audit_checkpoints (leaf hashes and checkpoints as the writer makes
    them, a consistency proof between checkpoints as the export does)."""
    size = len(plan.steps)
    started = time.perf_counter()
    copy_seconds = 0.0
    tree = MerkleTree()
    rows: list[tuple[Any, ...]] = []
    checkpoints: list[tuple[Any, ...]] = []
    previous = 0

    async def flush() -> None:
        nonlocal copy_seconds
        if connection is not None and rows:
            began = time.perf_counter()
            await connection.copy_records_to_table("audit_entries", records=rows, columns=COLUMNS)
            copy_seconds += time.perf_counter() - began
        rows.clear()

    out = bundle.open("wb") if bundle is not None else None
    try:
        if out is not None:
            header = {"type": "bundle", "format": FORMAT, "origin": ORIGIN, "from": 0, "to": size}
            out.write(_line({**header, "exported_at": datetime.now(UTC).isoformat()}))
            out.write(_line({"type": "frontier", "size": 0, "hashes": []}))
        for position, (event, at) in enumerate(plan.events()):
            entry = audit_entry(position, event)
            digest = leaf_hash(entry)
            tree.append_leaf_hash(digest)
            if out is not None:
                line = {
                    "type": "entry",
                    "position": position,
                    "leaf_hash": b64(digest),
                    "entry": b64(entry),
                }
                out.write(_line(line))
            if connection is not None:
                rows.append(
                    (position, event["id"], entry, digest, event["type"], event["document_id"],
                     event["agency_code"], at)
                )  # fmt: skip
                if len(rows) >= COPY_CHUNK:
                    await flush()
            done = position + 1
            if done % every == 0 or done == size:
                root = tree.root(done)
                signed_at = datetime.now(UTC)
                note = sign_checkpoint(Checkpoint(ORIGIN, done, root, signed_at), signer, ORIGIN)
                checkpoints.append((done, root, signed_at, note, None))
                if out is not None:
                    proof = tree.consistency_proof(previous, done)
                    line = {
                        "type": "checkpoint",
                        "size": done,
                        "note": note,
                        "timestamp": None,
                        "consistency": [b64(node) for node in proof],
                    }
                    out.write(_line(line))
                previous = done
        if out is not None:
            out.write(_line({"type": "end", "entries": size, "checkpoints": len(checkpoints)}))
        await flush()
        if connection is not None:
            await connection.copy_records_to_table(
                "audit_checkpoints",
                records=checkpoints,
                columns=("size", "root", "at", "note", "timestamp"),
            )
    finally:
        if out is not None:
            out.close()
    return GeneratedLog(
        entries=size,
        checkpoints=len(checkpoints),
        seconds=time.perf_counter() - started,
        copy_seconds=copy_seconds,
        bundle=bundle,
        bundle_bytes=file_size(bundle) if bundle is not None else 0,
    )


# --------------------------------------------------------------------------- 2. verify


@dataclass
class VerifyResult:
    how: str
    seconds: float
    cpu_seconds: float
    entries: int
    peak_rss: int | None = None
    detail: str = ""


def verify_lines(lines: Iterable[bytes], certificate: Path) -> Report:
    """Feed `lines` to the offline verifier, as `axis audit verify` does."""
    verifier = BundleVerifier(x509.load_pem_x509_certificate(certificate.read_bytes()))
    for raw in lines:
        if not verifier.feed_line(raw):
            break
    return verifier.finish()


def verify_in_process(bundle: Path, certificate: Path) -> VerifyResult:
    cpu, started = time.process_time(), time.perf_counter()
    with bundle.open("rb") as lines:
        report = verify_lines(lines, certificate)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if not report.ok:
        raise RuntimeError(f"the generated bundle does not verify: {report.finding}")
    detail = f"{report.entries:,} entries, {report.checkpoints:,} checkpoints verified"
    return VerifyResult("in process (BundleVerifier)", seconds, cpu, report.entries, None, detail)


def cli_available() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "axis.cli", "audit", "verify", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return done.returncode == 0


def high_water_rss(pid: int) -> int:
    """VmHWM of a running process, in bytes (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def verify_cli(bundle: Path, certificate: Path, entries: int) -> VerifyResult:
    """`axis audit verify` in its own process: wall and CPU time, and its peak RSS (polled:
    the rusage of children would count this big process's pages, shared at fork)."""
    command = [sys.executable, "-m", "axis.cli", "audit", "verify", str(bundle),
               "--certificate", str(certificate)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL, cwd=ROOT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, high_water_rss(process.pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        output.seek(0)
        said = "; ".join(line.strip() for line in output if "checked" in line)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise RuntimeError(f"axis audit verify failed ({process.returncode}): {said}")
    how = "axis audit verify (own process)"
    return VerifyResult(how, seconds, cpu, entries, peak or None, f"it said: {said}")


async def root_from_database(url: str) -> tuple[float, int, int]:
    """The real `merkle.root` over the loaded log, as the writer's next checkpoint would ask
    for it: with the subtree cache empty (COPY bypassed the writer) it reads every leaf
    and fills the cache as the writer's checkpoints would have. It must be the last
    checkpoint's root. Returns its seconds, the tree size and the subtrees cached."""
    engine = create_engine(url)
    async with create_session_factory(engine).begin() as session:
        last = await session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
        )
        assert last is not None
        started = time.perf_counter()
        root = await merkle.root(DatabaseLeafStore(session), last.size)
        seconds = time.perf_counter() - started
        cached = await session.scalar(select(func.count()).select_from(AuditSubtree))
    await engine.dispose()
    if root != last.root:
        raise RuntimeError(f"the loaded log's root is not checkpoint {last.size}'s")
    return seconds, last.size, int(cached or 0)


@dataclass
class ExportResult:
    start: int
    end: int
    seconds: float
    size: int
    verify_seconds: float
    same_as_generated: bool | None
    """None when there was no generated bundle to compare with."""


def body_matches(generated: Path, start: int, body: list[bytes]) -> bool:
    """Whether `generated` holds `body` (entry and checkpoint lines) from entry `start` on."""
    first = b'{"type":"entry","position":%d,' % start
    with generated.open("rb") as lines:
        for line in lines:
            if line.startswith(first):
                found = [line, *itertools.islice(lines, len(body) - 1)]
                return found == body
    return False


async def bench_export(
    url: str, entries: int, generated: Path | None, certificate: Path
) -> ExportResult:
    """The last `entries` entries exported as `GET /v1/audit/export` does (`bundle_range`,
    `bundle_lines`), timed; then verified, and compared with the generated bundle."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    async with sessions() as session:
        last = await session.scalar(select(func.max(AuditCheckpoint.size)))
        span = await bundle_range(session, ORIGIN, max(0, int(last or 0) - entries), None)
    started = time.perf_counter()
    lines = [line async for line in bundle_lines(sessions, span)]
    seconds = time.perf_counter() - started
    await engine.dispose()
    began = time.perf_counter()
    report = verify_lines(lines, certificate)
    verify_seconds = time.perf_counter() - began
    if not report.ok:
        raise RuntimeError(f"the exported bundle does not verify: {report.finding}")
    body = lines[3 if span.anchor is not None else 2 : -1]
    same = None if generated is None else body_matches(generated, span.start, body)
    size = sum(len(line) for line in lines)
    return ExportResult(span.start, span.end, seconds, size, verify_seconds, same)


# --------------------------------------------------------------------------- 3. search


@dataclass
class Latencies:
    what: str
    samples: list[float]
    cpu_seconds: float | None = None


def time_requests(
    client: httpx.Client, paths: list[str], expected: list[int], pid: int, what: str
) -> Latencies:
    samples = []
    cpu = proc_cpu(pid)
    for path, count in zip(paths, expected, strict=True):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        body = response.json()
        got = len(body["entries"] if isinstance(body, dict) else body)
        if got != count:
            raise RuntimeError(f"{path}: {got} entries, the log holds {count}")
    return Latencies(what, samples, proc_cpu(pid) - cpu)


async def bench_search(
    plan: LogPlan,
    url: str,
    dsn: str,
    args: argparse.Namespace,
    work_dir: Path,
) -> list[Latencies]:
    counts = plan.entry_counts()
    rng = random.Random(args.seed + 1)
    ids = rng.sample(sorted(counts), min(args.queries, len(counts)))
    expected = [counts[i] for i in ids]
    connection = await asyncpg.connect(dsn)
    try:
        statement = await connection.prepare(SEARCH_SQL)
        for document_id in ids[:50]:  # warm up
            await statement.fetch(document_id, -1)
        sql = []
        for document_id, count in zip(ids, expected, strict=True):
            started = time.perf_counter()
            rows = await statement.fetch(document_id, -1)
            sql.append(time.perf_counter() - started)
            if len(rows) != count:
                raise RuntimeError(f"SQL: {len(rows)} rows for {document_id}, expected {count}")
        plan_text = await connection.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + SEARCH_SQL.replace("$2", "-1"), ids[0]
        )
    finally:
        await connection.close()
    print("   the search's plan (one id):")
    for row in plan_text:
        print(f"     {row[0]}")

    engine = create_engine(url)
    async with create_session_factory(engine).begin() as session:
        _, token = await create_token(session, Role.AUDITOR, label="bench")
    await engine.dispose()
    port = free_port()
    data_dir = work_dir / "serve"
    env = {
        **os.environ,
        "AXIS_DATA_DIR": str(data_dir),
        "AXIS_DATABASE_URL": url,
        "AXIS_PORT": str(port),
        "AXIS_LOG_LEVEL": "warning",
    }
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(env, base_url, "--only-api", log=work_dir / "serve.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            warm = [f"/v1/audit/entries?document_id={i}" for i in ids[:50]]
            time_requests(client, warm, expected[:50], process.pid, "warm-up")
            baseline = time_requests(
                client,
                ["/v1/audit/checkpoints?limit=1"] * len(ids),
                [1] * len(ids),
                process.pid,
                BASELINE_WHAT,
            )
            search = time_requests(
                client,
                [f"/v1/audit/entries?document_id={i}" for i in ids],
                expected,
                process.pid,
                SEARCH_WHAT,
            )
            timeline = time_requests(
                client,
                [f"/v1/audit/documents/{i}/timeline" for i in ids],
                expected,
                process.pid,
                TIMELINE_WHAT,
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return [search, timeline, Latencies(SQL_WHAT, sql), baseline]


# --------------------------------------------------------------------------- the run


@dataclass
class Postgres:
    node: Any
    admin_dsn: str
    port: int
    version: str = ""
    fsync: str = ""
    databases: list[str] = field(default_factory=list)

    async def database(self, name: str) -> tuple[str, str]:
        """A fresh database: its SQLAlchemy URL and its asyncpg DSN."""
        connection = await asyncpg.connect(self.admin_dsn)
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {name}")
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()
        self.databases.append(name)
        where = f"postgres@127.0.0.1:{self.port}/{name}"
        return f"postgresql+asyncpg://{where}", f"postgresql://{where}"


async def start_postgres(run_dir: Path, fsync: str) -> Postgres:
    launcher = load_module(ROOT / "deploy" / "postgres" / "launcher.py", "postgres_launcher")
    node = launcher.PostgresNode(run_dir)
    node.start()
    postgres = Postgres(node, node.dsn, node.port)
    connection = await asyncpg.connect(node.dsn)
    try:
        await connection.execute(f"ALTER SYSTEM SET fsync = {fsync}")
        await connection.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        postgres.version = await connection.fetchval("SHOW server_version")
        postgres.fsync = await connection.fetchval("SHOW fsync")
    finally:
        await connection.close()
    return postgres


@dataclass
class Run:
    """What the phases measured, for the summary."""

    writers: list[WriterResult] = field(default_factory=list)
    generated: GeneratedLog | None = None
    verifies: list[VerifyResult] = field(default_factory=list)
    export: ExportResult | None = None
    searches: list[Latencies] = field(default_factory=list)


async def run_writer(args: argparse.Namespace, work_dir: Path, postgres: Postgres | None) -> Run:
    run = Run()
    plan = plan_log(args.entries, args.seed)
    events = [event for event, _ in plan.events()]
    first = events[0]
    assert Event.model_validate(first).encode() == canonical_json(first), "not an Event's shape"
    sizes = [len(canonical_json(event)) for event in events]
    print(
        f"\n{len(events):,} events of {statistics.mean(sizes):.0f} B on average "
        f"({min(sizes)}..{max(sizes)}), {len(plan.entry_counts()):,} documents",
        flush=True,
    )
    for name in args.databases:
        if name == "postgresql":
            assert postgres is not None
            url, _ = await postgres.database("bench_writer")
            where, pid = work_dir / "writer-pg", postgres.node.pid
            result = await bench_writer("PostgreSQL", url, events, args, where, pid)
        else:
            path = work_dir / "writer-sqlite" / "axis.sqlite3"
            url = f"sqlite+aiosqlite:///{path}"
            result = await bench_writer("SQLite", url, events, args, path.parent, None)
        print(f"   {result.database}: {result.rate:,.0f} entries/s", flush=True)
        run.writers.append(result)
    print_writer(run.writers, args)
    return run


async def run_log(
    args: argparse.Namespace, work_dir: Path, postgres: Postgres | None, run: Run
) -> None:
    """Phases 2 and 3, on one generated log."""
    phases = set(args.phases)
    keys = load_or_create_dev_keys(work_dir / "dev-keys")
    certificate = work_dir / "axis.cert.pem"
    certificate.write_bytes(certificate_pem(keys.axis.certificate))
    plan = plan_log(args.log_entries, args.seed)
    documents = len(plan.entry_counts())
    print(
        f"\nthe {args.log_entries:,}-entry log: {documents:,} documents, "
        f"{args.log_entries / documents:.1f} entries each on average",
        flush=True,
    )
    connection = None
    url = dsn = ""
    made = []
    if "search" in phases:
        assert postgres is not None
        url, dsn = await postgres.database("bench_search")
        await migrate(url)
        connection = await asyncpg.connect(dsn)
    bundle = work_dir / "audit.jsonl" if "verify" in phases else None
    try:
        generated = await generate_log(plan, keys.axis, 1000, bundle, connection)
        if bundle is not None:
            made.append(f"a bundle of {mib(generated.bundle_bytes):,.0f} MiB")
        if connection is not None:
            vacuum = time.perf_counter()
            await connection.execute("VACUUM ANALYZE audit_entries")
            await connection.execute("ANALYZE audit_checkpoints")
            await connection.execute("CHECKPOINT")
            vacuum = time.perf_counter() - vacuum
            table = await connection.fetchval("SELECT pg_total_relation_size('audit_entries')")
            made.append(
                f"COPY into PostgreSQL {generated.copy_seconds:.1f} s of it, then VACUUM "
                f"ANALYZE and CHECKPOINT {vacuum:.1f} s; audit_entries with its indexes "
                f"{mib(table):,.0f} MiB"
            )
    finally:
        if connection is not None:
            await connection.close()
    run.generated = generated
    print(
        f"   made {generated.entries:,} entries and {generated.checkpoints:,} signed "
        f"checkpoints in {generated.seconds:.1f} s: {'; '.join(made)}",
        flush=True,
    )
    if connection is not None:
        seconds, size, cached = await root_from_database(url)
        print(
            f"   merkle.root over the database at {size:,} with a cold subtree cache: "
            f"{seconds:.1f} s ({cached:,} subtrees cached); it is the last checkpoint's root",
            flush=True,
        )
    if bundle is not None:
        print(
            f"\n2. offline verification of the {generated.entries:,}-entry bundle "
            f"({mib(generated.bundle_bytes):,.0f} MiB, {generated.checkpoints:,} checkpoints, "
            "ECDSA P-256)",
            flush=True,
        )
        if cli_available():
            run.verifies.append(verify_cli(bundle, certificate, generated.entries))
        else:
            print(
                "   `axis audit verify --help` fails: there is no such command in this "
                "checkout, so only the in-process BundleVerifier is timed"
            )
        run.verifies.append(verify_in_process(bundle, certificate))
        print_verify(run.verifies, generated)
    if connection is not None and args.export_entries:
        run.export = export = await bench_export(url, args.export_entries, bundle, certificate)
        same = {None: "", True: "; line for line the generated bundle's", False: ""}
        count = export.end - export.start
        print(
            f"   export of entries {export.start:,} to {export.end:,} from PostgreSQL "
            f"(bundle_range + bundle_lines, as GET /v1/audit/export): {export.seconds:.1f} s, "
            f"{count / export.seconds:,.0f} entries/s, {mib(export.size):,.0f} MiB; verified "
            f"in {export.verify_seconds:.1f} s{same[export.same_as_generated]}",
            flush=True,
        )
        if export.same_as_generated is False:
            raise RuntimeError("the export differs from the generated bundle")
    if bundle is not None and args.work_dir is None:
        bundle.unlink()
    if "search" in phases:
        print(
            f"\n3. search by document id at {generated.entries:,} entries: "
            f"{min(args.queries, documents):,} random documents, one request at a time, "
            "auditor token, `axis serve --only-api` on PostgreSQL",
            flush=True,
        )
        run.searches = await bench_search(plan, url, dsn, args, work_dir)
        print_search(run.searches)


def print_verify(verifies: list[VerifyResult], generated: GeneratedLog) -> None:
    print(f"   {'how':<34} {'s':>7} {'entries/s':>10} {'CPU s':>7} {'MiB/s':>7}")
    for v in verifies:
        rss = f"  peak RSS {mib(v.peak_rss):,.0f} MiB" if v.peak_rss else ""
        print(
            f"   {v.how:<34} {v.seconds:>7.1f} {v.entries / v.seconds:>10,.0f} "
            f"{v.cpu_seconds:>7.1f} {mib(generated.bundle_bytes) / v.seconds:>7.1f}{rss}"
            f"  ({v.detail})"
        )
    if len(verifies) == 2:
        print(f"   CLI / in process time: {verifies[0].seconds / verifies[1].seconds:.2f}")


def print_search(searches: list[Latencies]) -> None:
    header = f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'mean':>7} {'API CPU ms/req':>14}"
    print(f"   {'':<46} {header}")
    for s in searches:
        p50, p95, p99 = percentiles(s.samples)
        mean = statistics.mean(s.samples) * 1000
        cpu = "" if s.cpu_seconds is None else f"{s.cpu_seconds / len(s.samples) * 1000:.2f}"
        print(f"   {s.what:<46} {p50:>7.2f} {p95:>7.2f} {p99:>7.2f} {mean:>7.2f} {cpu:>14}")
    by_what = {s.what: percentiles(s.samples)[0] for s in searches}
    sql = by_what[SQL_WHAT]
    print(
        f"   API / SQL at p50: search {by_what[SEARCH_WHAT] / sql:.1f}, "
        f"timeline {by_what[TIMELINE_WHAT] / sql:.1f}"
    )


def summary_rows(run: Run) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    add = rows.append
    for r in run.writers:
        cpu = f"{r.cpu_seconds / r.entries * 1e6:.0f} writer"
        if r.server_cpu_seconds is not None:
            cpu += f" + {r.server_cpu_seconds / r.entries * 1e6:.0f} PostgreSQL"
        add(
            (
                f"writer on {r.database}, entries/s: all / 2nd half",
                f"{r.rate:,.0f} / {r.sustained:,.0f}",
            )
        )
        add((f"writer on {r.database}, CPU ms per 1000 entries", cpu))
    writers = {r.database: r for r in run.writers}
    if len(writers) == 2:
        ratio = writers["PostgreSQL"].sustained / writers["SQLite"].sustained
        add(("writer PostgreSQL / SQLite, 2nd half", f"{ratio:.2f}"))
    generated = run.generated
    if generated is None:
        return rows
    for v in run.verifies:
        add(
            (
                f"verify {v.entries:,} entries: {v.how}",
                f"{v.seconds:.1f} s, {v.entries / v.seconds:,.0f} entries/s",
            )
        )
    if run.verifies:
        add((f"bundle of {generated.entries:,} entries", f"{mib(generated.bundle_bytes):,.0f} MiB"))
    if run.export is not None:
        count = run.export.end - run.export.start
        add(
            (
                f"export of {count:,} entries from PostgreSQL",
                f"{run.export.seconds:.1f} s, {count / run.export.seconds:,.0f} entries/s",
            )
        )
    for s in run.searches:
        p50, _, p99 = percentiles(s.samples)
        add((f"{s.what} p50 / p99 at {generated.entries:,}", f"{p50:.2f} / {p99:.2f} ms"))
    return rows  # fmt: skip


async def main_async(args: argparse.Namespace, work_dir: Path) -> None:
    began = time.perf_counter()
    phases = set(args.phases)
    print(
        f"bench/audit.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f} (1 min) before starting",
        flush=True,
    )
    print(f"code under test: {code_version()}", flush=True)
    postgres: Postgres | None = None
    kafka = None
    run = Run()
    try:
        if "search" in phases or ("writer" in phases and "postgresql" in args.databases):
            postgres = await start_postgres(work_dir / "postgres", args.pg_fsync)
            print(f"PostgreSQL {postgres.version}, fsync={postgres.fsync}", flush=True)
        if "writer" in phases:
            if args.bus == "kafka" and not args.kafka:
                launcher = load_module(ROOT / "deploy" / "kafka" / "launcher.py", "kafka_launcher")
                kafka = launcher.KafkaNode(str(work_dir / "kafka"), die_with_parent=True)
                args.kafka = kafka.start()
            run = await run_writer(args, work_dir, postgres)
        if "verify" in phases or "search" in phases:
            await run_log(args, work_dir, postgres, run)
    finally:
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.node.stop(remove=args.work_dir is None)
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    rows = summary_rows(run)
    took = time.perf_counter() - began
    rows.append(
        ("this run took", f"{took:.0f} s (load average {os.getloadavg()[1]:.2f} over 5 min)")
    )
    width = max(len(name) for name, _ in rows)
    print("\nsummary")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000, help="events for the writer")
    parser.add_argument(
        "--log-entries", type=int, default=1_000_000, help="entries to verify and search"
    )
    parser.add_argument("--queries", type=int, default=2000, help="document ids searched")
    parser.add_argument(
        "--export-entries", type=int, default=100_000, help="the last entries exported, 0: none"
    )
    parser.add_argument(
        "--phases", type=lambda s: s.split(","), default=["writer", "verify", "search"]
    )
    parser.add_argument(
        "--databases", type=lambda s: s.split(","), default=["postgresql", "sqlite"]
    )
    parser.add_argument("--bus", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--kafka", help="bootstrap of a running broker (default: start one)")
    parser.add_argument("--pg-fsync", choices=["on", "off"], default="on")
    parser.add_argument("--work-dir", help="keep the files (bundle, PostgreSQL) here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="everything small: checks the bench in < 1 min"
    )
    args = parser.parse_args()
    if args.quick:
        args.entries, args.log_entries, args.queries = 5000, 20_000, 200
        args.export_entries = 5000
    for name in args.databases:
        if name not in ("postgresql", "sqlite"):
            parser.error(f"--databases: unknown {name!r}")
    for name in args.phases:
        if name not in ("writer", "verify", "search"):
            parser.error(f"--phases: unknown {name!r}")
    logging.basicConfig(level=logging.WARNING)
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="bench-audit-")).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(main_async(args, work_dir))


if __name__ == "__main__":
    main()
