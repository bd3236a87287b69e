"""The fault suite at full size: documents to three recipients (push, pull with ack, file
drop) through HAProxy in front of two `axis serve --only-api` processes, two `axis worker`s
and one `axis audit-writer`, on PostgreSQL and a three-broker Kafka cluster
(AXIS_KAFKA_REPLICATION_FACTOR=3), while one after another a broker is killed and later
restarted, the partition leader's broker is stopped, a worker is killed, an API process is
killed mid-request, the audit writer is killed and PostgreSQL is restarted.

    python bench/faults.py [--documents 10000] [--dir DIR]

Everything runs on this machine, started here and stopped on the way out (killed with the
bench if it is killed): the cluster, PostgreSQL and HAProxy by their launchers under
deploy/, the axis's processes, and the push endpoint in this process. The choreography,
the checks and the figures are tests/e2e/faults_support.py's, which the CI run
(tests/e2e/test_e2e_faults.py, 1,000 documents) shares. Prints: sent, acknowledged,
delivered, pushes repeated (same delivery id), lost (must be 0), and for each fault how
long the part was down, the rates before it, the time until the rate was back above half
of that, and the lowest rate meanwhile (the dip). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_support import Deployment  # noqa: E402
from faults_support import FaultRun, Figures  # noqa: E402
from push_endpoint import free_port  # noqa: E402

from deploy.haproxy.launcher import HAProxyNode  # noqa: E402
from deploy.kafka.launcher import KafkaCluster  # noqa: E402
from deploy.postgres.launcher import PostgresNode  # noqa: E402


async def until_signalled(fault_run: FaultRun) -> Figures:
    """The run, cancelled by SIGINT or SIGTERM, so that it stops the axis's processes on its
    way out. (Left to Python, SIGTERM ended this process alone and they went on, polling a
    cluster that was gone; and a shell starts a background job with SIGINT ignored.)"""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    return await fault_run.run()


def run(documents: int, directory: Path) -> Figures:
    started = time.monotonic()
    cluster = KafkaCluster(directory / "kafka", brokers=3, die_with_parent=True)
    postgres = PostgresNode(directory / "postgres")
    backends = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    haproxy = HAProxyNode(directory / "haproxy", backends, die_with_parent=True)
    try:
        cluster.start()
        postgres.start()
        haproxy.start()
        print(f"cluster, PostgreSQL and HAProxy up in {time.monotonic() - started:.0f} s")
        root = directory / "axis"
        root.mkdir(parents=True)
        deployment = Deployment("kafka", root, postgres.url, kafka_bootstrap=cluster.bootstrap)
        fault_run = FaultRun(deployment, cluster, postgres, haproxy, documents)
        return asyncio.run(until_signalled(fault_run))
    finally:
        with contextlib.suppress(Exception):
            haproxy.stop()
        with contextlib.suppress(Exception):
            postgres.stop(remove=True)
        for node in cluster.nodes.values():  # its data is thrown away: no clean stop needed
            with contextlib.suppress(Exception):
                node.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, help="where everything runs (default: a temporary one)")
    args = parser.parse_args()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        directory = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        try:
            figures = run(args.documents, directory)
        except AssertionError as failure:
            print(f"FAILED: {failure}")
            return 1
        except asyncio.CancelledError:
            print("stopped by a signal; everything it started is stopped")
            return 130
    # The figures' table was printed by the run's checks.
    print(f"fault suite, {figures.documents} documents, {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
