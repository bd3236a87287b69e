"""The fault suite (issue 15): the axis as operators deploy it, HAProxy in front of two
`axis serve --only-api` processes, two `axis worker`s and one `axis audit-writer` on
PostgreSQL and a three-broker Kafka cluster (replication factor 3), fed documents for three
recipients (push, pull with ack, file drop) while each part fails in turn:

1. a broker is killed (`kill -9`), and restarted once documents went on without it;
2. the broker leading the documents topic's partition 0 is stopped, then restarted;
3. a worker is killed, and restarted once the other took its deliveries over;
4. an API process is killed with requests in flight, and restarted;
5. the audit writer is killed, and restarted;
6. PostgreSQL is restarted (fast shutdown: every connection is cut).

Fault k fires once (k + 1) / (faults + 2) of the documents are acknowledged (and half as
many pushed: the workers run) and fault k - 1 is repaired; the senders go on meanwhile, but
the last 1 / (faults + 2) are sent only once every fault is repaired, so the axis still has
work after the last. (When the repairs take longer than the documents before that last
share, the senders wait there, and the last faults meet less load: the figures show it.
The CI run's 1,000 documents last about as long as the faults; 10,000 outlast them.) Clients
resend the same bytes until answered, as the agency client does; the pull agency polls its
inbox, downloads and acknowledges. An axis process that exits by itself (the audit writer
does when PostgreSQL goes away) is restarted, as Compose's `restart: unless-stopped` does,
and named in the figures. Afterwards `FaultRun.check` says what reached whom, and
`Figures` holds the counts, each fault's time to recover and its throughput dip.

Shared by tests/e2e/test_e2e_faults.py (CI, 1,000 documents) and bench/faults.py (10,000).
Every wait has a deadline; a failure prints the processes' log tails.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from e2e_support import (
    AxisProcess,
    Deployment,
    Outcome,
    RecordingReceiver,
    Routing,
    axis_cli,
    check_one_delivered_each,
    file_drop_agency,
    haproxy_server,
    pull_agency,
    push_agency,
    send_until_answered,
    wait_haproxy_status,
    wait_until,
)
from push_endpoint import serving
from sqlalchemy import func, select

from adapters.client import AxisError, AxisUnreachable
from axis.bus.topics import DOCUMENTS
from axis.storage.database import create_engine, create_session_factory
from axis.storage.models import AuditCheckpoint, AuditEntry
from deploy.launcher_support import tail
from schemas.files import delivery_paths

if TYPE_CHECKING:
    from deploy.haproxy.launcher import HAProxyNode
    from deploy.kafka.launcher import KafkaCluster
    from deploy.postgres.launcher import PostgresNode

PUSH = "000.00.00.H26"
PULL = "000.00.00.H41"
DROP = "000.00.00.H53"
RECIPIENTS = (PUSH, PULL, DROP)
DONE = {PUSH: "delivered", PULL: "acked_done", DROP: "delivered"}
"""The state each recipient's deliveries end in (pull: once the agency acknowledged)."""
SENDERS = 8
STEP_DEADLINE = 120.0
"""The longest any one step may take (a broker's restart and its replicas catching up)."""
ENVIRONMENT = {
    "AXIS_KAFKA_REPLICATION_FACTOR": "3",
    "AXIS_SERVE_WORKERS": "1",  # a supervisor and its API process, as deployed
    "AXIS_CHECKPOINT_INTERVAL_SECONDS": "1",
    "AXIS_CHECKPOINT_EVERY_ENTRIES": "2000",
    # The senders are one agency's system on SENDERS connections; at the default of one
    # request of an agency at a time per process, the run measured that limit, not faults.
    "AXIS_AGENCY_MAX_IN_FLIGHT": str(SENDERS),
}
WINDOW = 10.0
"""Rates are counted over sliding windows of this many seconds, stepping by a tenth. At the
5-10 documents a second this machine carries with everything on it, a 3 s window holds
15-30 acknowledgements, and its noise alone went under half the baseline now and then: a
broker kill's 9 s pause then read as a minute of "not recovered"."""
BASELINE = 10.0
"""A fault's baseline rate: the rate over this many seconds before it."""


@dataclass
class Fault:
    """One fault: when it began and when the failed part was back."""

    name: str
    began: float
    repaired: float = 0.0


@dataclass
class Recovery:
    """A fault's effect on a rate (documents acknowledged, or pushes answered, per second)."""

    baseline: float
    """Per second over the `BASELINE` s before the fault."""
    recovered_after: float
    """Seconds from the fault to the end of the last window below half the baseline."""
    lowest: float
    """The lowest rate over a window between the fault and the next one."""

    @property
    def dip(self) -> float:
        """The lowest rate as a share of the baseline (1.0: no dip)."""
        return self.lowest / self.baseline if self.baseline else 1.0


@dataclass
class Figures:
    documents: int = 0
    sent: int = 0
    acknowledged: int = 0
    repeats: int = 0
    """Answers that were a repeat (a resend of a document the axis had already committed)."""
    send_failures: int = 0
    deliveries: int = 0
    delivered: int = 0
    pushed_twice: int = 0
    """Push deliveries the receiver got more than once (same delivery id)."""
    delivered_records_repeated: int = 0
    lost: int = 0
    pull_failures: int = 0
    restarted: list[str] = field(default_factory=list)
    """Axis processes that exited by themselves, restarted as their supervisor would."""
    audit_entries: int = 0
    audit_checkpoints: int = 0
    seconds: float = 0.0
    faults: list[tuple[Fault, Recovery, Recovery]] = field(default_factory=list)

    def table(self) -> str:
        """The figures as lines of text: the counts, then one row per fault."""
        rate = self.acknowledged / self.seconds if self.seconds else 0.0
        lines = [
            f"documents sent {self.sent}, acknowledged {self.acknowledged} "
            f"({self.repeats} as repeats, {self.send_failures} failed attempts resent), "
            f"{rate:.1f}/s over {self.seconds:.0f} s",
            f"deliveries {self.deliveries}, delivered {self.delivered}, lost {self.lost}, "
            f"pushed more than once {self.pushed_twice}, `delivered` records repeated "
            f"{self.delivered_records_repeated}, pull failures {self.pull_failures}",
            f"exited by themselves (restarted): {', '.join(self.restarted) or 'none'}",
            f"audit log: {self.audit_entries} entries, {self.audit_checkpoints} checkpoints, "
            "verified offline",
            "",
            "| fault | down for (s) | acks/s before | acks: recovered after (s), lowest |"
            " pushes/s before | pushes: recovered after (s), lowest |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for fault, acks, pushes in self.faults:
            lines.append(
                f"| {fault.name} | {fault.repaired - fault.began:.1f} | {acks.baseline:.1f} | "
                f"{acks.recovered_after:.1f}, {acks.dip:.0%} | {pushes.baseline:.1f} | "
                f"{pushes.recovered_after:.1f}, {pushes.dip:.0%} |"
            )
        return "\n".join(lines)


def recovery(times: list[float], began: float, until: float) -> Recovery:
    """How a rate (events at `times`) fared from a fault at `began` up to `until`."""
    ordered = sorted(times)

    def count(start: float, end: float) -> int:
        return bisect.bisect_left(ordered, end) - bisect.bisect_left(ordered, start)

    baseline = count(began - BASELINE, began) / BASELINE
    recovered_after, lowest = 0.0, baseline
    start = began
    while start + WINDOW <= until:
        rate = count(start, start + WINDOW) / WINDOW
        lowest = min(lowest, rate)
        if rate < baseline / 2:
            recovered_after = start + WINDOW - began
        start += WINDOW / 10
    return Recovery(baseline, recovered_after, lowest)


class FaultRun:
    """One run: deploy, send `documents` through the faults, settle, check."""

    def __init__(
        self,
        deployment: Deployment,
        cluster: KafkaCluster,
        postgres: PostgresNode,
        haproxy: HAProxyNode,
        documents: int,
    ) -> None:
        self.deployment = deployment
        self.cluster = cluster
        self.postgres = postgres
        self.haproxy = haproxy
        self.documents = documents
        self.receiver = RecordingReceiver(deployment.root / "push")
        self.drop_dir = deployment.settings().resolved_file_drop_root / "agency"
        self.apis: list[AxisProcess] = []
        self.workers: list[AxisProcess] = []
        self.writer: AxisProcess | None = None
        self.envelopes: list[bytes] = []
        self.outcomes: list[Outcome] = []
        self.acknowledged_at: list[float] = []
        self.taken = 0
        self.pulled: dict[str, bytes] = {}
        self.pulled_other_bodies: list[str] = []
        self.pull_failures = 0
        self.faults: list[Fault] = []
        self.restarted: list[str] = []
        self.steps: list[tuple[str, Callable[[Fault], Awaitable[None]]]] = [
            ("broker killed (kill -9)", self.kill_broker),
            ("partition leader's broker stopped", self.stop_leader),
            ("worker killed", self.kill_worker),
            ("API process killed mid-request", self.kill_api),
            ("audit writer killed", self.kill_audit_writer),
            ("PostgreSQL restarted", self.restart_postgres),
        ]
        self.step = documents // (len(self.steps) + 2)
        self.marks = [self.step * (k + 1) for k in range(len(self.steps))]
        """Fault k fires at marks[k] acknowledged."""
        self.held_from = self.step * (len(self.steps) + 1)
        """Documents from here on wait until every fault is repaired."""
        self.share_deadline = STEP_DEADLINE + self.step
        """The wait for a share of the documents to be answered (at least one a second)."""
        self.started = 0.0
        self.finished = 0.0

    # The run

    async def run(self) -> Figures:
        """Deploy, send through every fault, wait until all is delivered and audited, check."""
        try:
            async with serving(self.receiver) as url:
                await self.deploy(url)
                supervising = asyncio.create_task(self.supervise())
                try:
                    await self.send_through_faults()
                    await self.settle()
                finally:
                    supervising.cancel()
                    await asyncio.gather(supervising, return_exceptions=True)
            return await self.check()
        except BaseException:
            print(self.logs())
            raise
        finally:
            await self.deployment.stop_all()

    async def deploy(self, push_url: str) -> None:
        deployment = self.deployment
        deployment.kafka_bootstrap = self.cluster.bootstrap
        deployment.extra_environment |= ENVIRONMENT
        self.drop_dir.mkdir(parents=True)
        await deployment.register(
            [push_agency(PUSH, push_url), pull_agency(PULL), file_drop_agency(DROP, self.drop_dir)]
        )
        await deployment.add_tokens([PULL], auditor=True)
        self.envelopes = await deployment.sign_documents(list(RECIPIENTS), "faults", self.documents)
        self.outcomes = [Outcome() for _ in self.envelopes]
        ports = [self.api_port(index) for index in range(len(self.haproxy.backends))]
        self.apis = list(await asyncio.gather(*(deployment.start_api(port) for port in ports)))
        self.workers = [await deployment.start_worker() for _ in range(2)]
        self.writer = await deployment.start_audit_writer()
        deployment.port = self.haproxy.port  # agencies, and the checks, go through HAProxy
        for number in range(1, len(ports) + 1):
            await wait_haproxy_status(self.haproxy, f"api-{number}", "UP")

    async def supervise(self) -> None:
        """Restart an axis process that exited by itself (not killed by a fault), as its
        supervisor does where it is deployed (Compose: `restart: unless-stopped`)."""
        while True:
            for index, api in enumerate(self.apis):
                if self.exited(api):
                    self.apis[index] = await self.deployment.start_api(self.api_port(index))
            for index, worker in enumerate(self.workers):
                if self.exited(worker):
                    self.workers[index] = await self.deployment.start_worker()
            if self.writer is not None and self.exited(self.writer):
                self.writer = await self.deployment.start_audit_writer()
            await asyncio.sleep(0.5)

    def exited(self, process: AxisProcess) -> bool:
        """`process` ended, and not of a fault's `kill -9` (noted: it is restarted)."""
        code = process.process.returncode
        if code is None or code == -signal.SIGKILL:
            return False
        at = time.monotonic() - self.started
        self.restarted.append(f"{process.name} (exit {code}, at {at:.0f} s)")
        return True

    def api_port(self, index: int) -> int:
        return int(self.haproxy.backends[index].rsplit(":", 1)[1])

    async def send_through_faults(self) -> None:
        self.started = time.monotonic()
        sending = asyncio.gather(*(self.sender() for _ in range(SENDERS)))
        pulling = asyncio.create_task(self.pull_agency())
        try:
            for k, (name, inject) in enumerate(self.steps):

                async def reached(mark: int = self.marks[k]) -> bool:
                    """`mark` acknowledged, and half as many pushed: the workers run (not
                    still starting, the first time)."""
                    assert not sending.done(), "every document was sent before the faults"
                    pushed = len(self.receiver.answered_at)
                    return len(self.acknowledged_at) >= mark and pushed >= mark // 2

                await wait_until(
                    reached, f"{self.marks[k]} acknowledged and pushed", self.share_deadline
                )
                fault = Fault(name, time.monotonic())
                self.faults.append(fault)
                print(f"[faults] {name} at {fault.began - self.started:.1f} s")
                await inject(fault)
                fault.repaired = time.monotonic()
            await asyncio.wait_for(sending, 2 * self.share_deadline)
            self.finished = time.monotonic()
            await self.settle_pulls(pulling)
        finally:
            sending.cancel()
            pulling.cancel()
            await asyncio.gather(sending, pulling, return_exceptions=True)

    async def sender(self) -> None:
        async with self.deployment.client(timeout=60) as client:
            while self.taken < self.documents:
                number = self.taken
                may_send = partial(self.may_send, number)
                await wait_until(may_send, "every fault repaired", 3 * STEP_DEADLINE)
                if self.taken != number:
                    continue  # another sender took it meanwhile
                self.taken += 1
                outcome = self.outcomes[number]
                await send_until_answered(client, self.envelopes[number], STEP_DEADLINE, outcome)
                self.acknowledged_at.append(time.monotonic())

    async def may_send(self, number: int) -> bool:
        """Whether document `number` may go: the last share once every fault is repaired."""
        repaired = len(self.faults) == len(self.steps) and self.faults[-1].repaired > 0
        return number < self.held_from or repaired

    async def pull_agency(self) -> None:
        """Poll the inbox, download and acknowledge what is new, until cancelled; a body
        downloaded again under one delivery id must be the same."""
        async with self.deployment.client(PULL, timeout=30) as client:
            while True:
                try:
                    async for item in client.inbox(limit=500):
                        if item.state != "delivered":
                            continue
                        got = await client.download(item.delivery_id)
                        first = self.pulled.setdefault(item.delivery_id, got.envelope)
                        if first != got.envelope:
                            self.pulled_other_bodies.append(item.delivery_id)
                        await client.ack(item.delivery_id, "done")
                except AxisError as error:
                    assert error.retryable or error.status == 409, f"pull refused: {error}"
                    self.pull_failures += 1
                except AxisUnreachable:
                    self.pull_failures += 1
                await asyncio.sleep(0.5)  # the agency's polling interval

    async def settle_pulls(self, pulling: asyncio.Task[None]) -> None:
        """Let the pull agency go on until it acknowledged every pull delivery."""

        async def all_acknowledged() -> bool:
            if pulling.done():
                pulling.result()  # its error, if it failed
            mine = [d for d in (await self.deployment.deliveries()).values() if d[0] == PULL]
            return len(mine) >= self.accepted_count() and all(
                state == DONE[PULL] for _, _, state in mine
            )

        await wait_until(
            all_acknowledged, "every pull delivery acknowledged", self.settle_deadline, every=0.5
        )

    @property
    def settle_deadline(self) -> float:
        """The wait for what was accepted to be delivered (or audited): two a second."""
        return STEP_DEADLINE + self.documents / 2

    def accepted_count(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.answers)

    async def settle(self) -> None:
        """Until every accepted document's deliveries are done and the audit log has every
        event, signed by a checkpoint."""

        async def all_done() -> bool:
            done = [d for d in (await self.deployment.deliveries()).values() if DONE[d[0]] == d[2]]
            return len(done) >= len(RECIPIENTS) * self.accepted_count()

        await wait_until(all_done, "every delivery done", self.settle_deadline, every=0.5)
        event_ids = {event["id"] for event in await self.deployment.events(STEP_DEADLINE)}

        async def all_signed() -> bool:
            entries, signed = await self.audit_sizes()
            return entries >= len(event_ids) and signed == entries

        await wait_until(
            all_signed, "every event in the audit log, signed", self.settle_deadline, every=0.5
        )

    async def audit_sizes(self) -> tuple[int, int]:
        """(entries in the audit log, size of its last checkpoint)."""
        engine = create_engine(self.deployment.database_url)
        try:
            async with create_session_factory(engine)() as session:
                entries = await session.scalar(select(func.count()).select_from(AuditEntry))
                signed = await session.scalar(select(func.max(AuditCheckpoint.size)))
                return entries or 0, signed or 0
        finally:
            await engine.dispose()

    # The faults

    async def kill_broker(self, fault: Fault) -> None:
        node = 1
        await asyncio.to_thread(self.cluster.node(node).kill)
        await self.progress("acknowledged without the broker")
        await self.restart_broker(node)

    async def stop_leader(self, fault: Fault) -> None:
        async with self.kafka_admin() as admin:
            topic = f"{self.deployment.namespace}.{DOCUMENTS}"
            [described] = await admin.describe_topics([topic])
            [leader] = [p["leader"] for p in described["partitions"] if p["partition"] == 0]
        fault.name += f" (node {leader})"
        await asyncio.to_thread(self.cluster.node(leader).stop)
        await self.progress("acknowledged without the leader")
        await self.restart_broker(leader)

    async def kill_worker(self, fault: Fault) -> None:
        await self.workers[0].kill_hard()
        # Half a step more pushes, or as many as there are documents (the senders may be
        # waiting at the last share).
        target = min(len(self.receiver.answered_at) + self.step // 2, self.documents)

        async def taken_over() -> bool:
            return len(self.receiver.answered_at) >= min(target, len(self.acknowledged_at))

        await wait_until(taken_over, "pushes by the other worker", self.share_deadline)
        self.workers[0] = await self.deployment.start_worker()

    async def kill_api(self, fault: Fault) -> None:
        name, api = "api-2", self.apis[1]

        async def busy() -> bool:
            return int((await haproxy_server(self.haproxy, name))["scur"]) > 0

        await wait_until(busy, f"a request in flight at {name}", STEP_DEADLINE, every=0.005)
        await api.kill_hard(with_children=True)
        await wait_haproxy_status(self.haproxy, name, "DOWN")
        self.apis[1] = await self.deployment.start_api(self.api_port(1))
        await wait_haproxy_status(self.haproxy, name, "UP")

    async def kill_audit_writer(self, fault: Fault) -> None:
        assert self.writer is not None
        await self.writer.kill_hard()
        self.writer = await self.deployment.start_audit_writer()

    async def restart_postgres(self, fault: Fault) -> None:
        await asyncio.to_thread(self.postgres.restart)

    async def progress(self, what: str) -> None:
        """Until half a step more documents are acknowledged (the axis goes on meanwhile), or
        every document before the last share, which waits for the last repair."""
        target = min(len(self.acknowledged_at) + self.step // 2, self.held_from)

        async def reached() -> bool:
            return len(self.acknowledged_at) >= target

        await wait_until(reached, what, self.share_deadline)

    async def restart_broker(self, node: int) -> None:
        """Start `node` again, and wait until every partition has its three replicas in
        sync: stopping another broker before would leave some partition one short."""
        await asyncio.to_thread(self.cluster.node(node).start)
        async with self.kafka_admin() as admin:

            async def in_sync() -> bool:
                topics = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
                described = await admin.describe_topics([*topics, "__consumer_offsets"])
                return all(
                    len(partition["isr"]) == 3
                    for topic in described
                    for partition in topic["partitions"]
                )

            await wait_until(in_sync, f"node {node} back in sync", STEP_DEADLINE, every=0.5)

    @property
    def prefix(self) -> str:
        return f"{self.deployment.namespace}."

    @contextlib.asynccontextmanager
    async def kafka_admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.cluster.bootstrap)
        await admin.start()
        try:
            yield admin
        finally:
            await admin.close()

    # The checks

    async def check(self) -> Figures:
        """Figures of the run; raises AssertionError on anything lost, doubled or unverified."""
        deliveries = await self.deployment.deliveries()
        answered = {n: o.answers[0] for n, o in enumerate(self.outcomes) if o.answers}
        sent = {answer.document_id: self.envelopes[n] for n, answer in answered.items()}
        assert all(
            answer.document_id == answered[n].document_id
            for n, outcome in enumerate(self.outcomes)
            for answer in outcome.answers
        ), "one envelope answered under two document ids"
        expected: Routing = {code: {} for code in RECIPIENTS}
        for delivery_id, (recipient, document_id, _) in deliveries.items():
            expected[recipient][delivery_id] = document_id
        reached = {
            PUSH: self.receiver.stored_ids(),
            PULL: set(self.pulled),
            DROP: {d for d in expected[DROP] if delivery_paths(self.drop_dir, d)[0].exists()},
        }
        documents_reached = {
            code: {expected[code][d] for d in reached[code] if d in expected[code]}
            for code in RECIPIENTS
        }
        lost = {(d, code) for d in sent for code in RECIPIENTS if d not in documents_reached[code]}
        conflicts = [a for a in self.receiver.attempts if a.status == 409]
        for code in RECIPIENTS:
            for delivery_id in reached[code] & expected[code].keys():
                assert self.body(code, delivery_id) == sent[expected[code][delivery_id]], (
                    f"{code} holds other bytes under {delivery_id}"
                )
        figures = Figures(
            documents=self.documents,
            sent=sum(1 for outcome in self.outcomes if outcome.answers or outcome.failures),
            acknowledged=len(answered),
            repeats=sum(1 for o in self.outcomes for answer in o.answers if answer.repeat),
            send_failures=sum(len(outcome.failures) for outcome in self.outcomes),
            deliveries=len(deliveries),
            delivered=sum(
                1 for recipient, _, state in deliveries.values() if DONE[recipient] == state
            ),
            pushed_twice=sum(1 for c in self.receiver.attempts_per_delivery().values() if c > 1),
            lost=len(lost),
            pull_failures=self.pull_failures,
            restarted=self.restarted,
            seconds=self.finished - self.started,
        )
        figures.audit_entries, figures.audit_checkpoints = await self.verify_audit_log()
        figures.delivered_records_repeated = check_one_delivered_each(
            await self.deployment.events(STEP_DEADLINE), expected
        )
        for k, fault in enumerate(self.faults):
            until = self.faults[k + 1].began if k + 1 < len(self.faults) else self.finished
            figures.faults.append(
                (
                    fault,
                    recovery(self.acknowledged_at, fault.began, until),
                    recovery(self.receiver.answered_at, fault.began, until),
                )
            )
        print(figures.table())
        assert not lost, f"accepted and not delivered: {sorted(lost)[:10]}"
        assert not conflicts, f"another body under a stored delivery id: {conflicts[:5]}"
        assert not self.pulled_other_bodies, (
            f"pulled twice, differently: {self.pulled_other_bodies}"
        )
        assert set(sent) == await self.deployment.stored_documents()
        assert len(self.faults) == len(self.steps)
        return figures

    def body(self, code: str, delivery_id: str) -> bytes:
        """The envelope `code` holds under `delivery_id`."""
        if code == PUSH:
            return self.receiver.envelope_path(delivery_id).read_bytes()
        if code == PULL:
            return self.pulled[delivery_id]
        return delivery_paths(self.drop_dir, delivery_id)[0].read_bytes()

    async def verify_audit_log(self) -> tuple[int, int]:
        """Export the whole audit log as an auditor, through HAProxy, and verify it offline
        with the axis certificate only (every checkpoint's signature and its consistency
        proof from the one before): (entries, checkpoints) verified."""
        headers = {"Authorization": f"Bearer {self.deployment.tokens['auditor']}"}
        root = self.deployment.root
        async with httpx.AsyncClient(
            base_url=self.deployment.base_url, headers=headers, timeout=120
        ) as auditor:
            bundle, certificate = root / "audit-bundle.jsonl", root / "axis.pem"
            async with auditor.stream("GET", "/v1/audit/export") as response:
                assert response.status_code == 200, await response.aread()
                with bundle.open("wb") as output:
                    async for chunk in response.aiter_bytes():
                        output.write(chunk)
            certificate.write_bytes((await auditor.get("/v1/audit/certificate")).content)
        offline = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
        offline["AXIS_DATA_DIR"] = str(root / "nothing-here")
        status, output = await axis_cli(
            "audit", "verify", str(bundle), "--certificate", str(certificate), env=offline
        )
        assert status == 0 and "verified" in output, output
        found = re.search(r"checked ([\d,]+) entries and ([\d,]+) checkpoints", output)
        assert found is not None, output
        entries, checkpoints = (int(group.replace(",", "")) for group in found.groups())
        assert (entries, checkpoints > 1) == ((await self.audit_sizes())[0], True), output
        return entries, checkpoints

    def logs(self) -> str:
        """The tails of every process's log: the axis's, the brokers', HAProxy's, PostgreSQL's."""
        parts = [self.deployment.logs()]
        for node_id, node in self.cluster.nodes.items():
            parts.append(f"--- kafka node {node_id} ---\n{tail(node.log_path, 30)}")
        parts.append(f"--- haproxy ---\n{tail(self.haproxy.log_path, 30)}")
        parts.append(f"--- postgres ---\n{tail(self.postgres.log_path, 30)}")
        return "\n".join(parts)
