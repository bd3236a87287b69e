"""Session-wide real services for the tests: an Apache Kafka broker and a PostgreSQL server.

Why here: every test folder needs the same two services, and starting them once per session
(only when a test asks) keeps the suite fast. Point the tests at existing services with
AXIS_TEST_KAFKA_BOOTSTRAP / AXIS_TEST_POSTGRES_URL. When a service cannot start, tests that
need it are skipped, except under CI=true where they fail loudly with the launcher's log.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from deploy.kafka.launcher import KafkaCluster, KafkaNode

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["database_fixtures"]
KAFKA_ENV = "AXIS_TEST_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "AXIS_TEST_POSTGRES_URL"
KAFKA_FIXTURES = frozenset({"kafka_bootstrap", "kafka_node", "kafka_cluster"})
POSTGRES_FIXTURES = frozenset({"postgres_url", "postgres_launcher"})


def _launcher(service: str) -> ModuleType:
    """Import deploy/<service>/launcher.py by path: deploy/ is not an installed package."""
    name = f"_axis_deploy_{service}_launcher"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / service / "launcher.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _unavailable(service: str, exc: BaseException, log: Path | None) -> NoReturn:
    """Fail under CI (a missing service must not pass as green), skip elsewhere."""
    message = exc.args[0] if exc.args else ""
    reason = f"{service} could not start: {type(exc).__name__}: {message}"
    if os.environ.get("CI", "").lower() == "true":
        log_tail = getattr(exc, "log_tail", "")
        if not log_tail and log is not None and log.is_file():
            log_tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"{reason}\n--- tail of {log} ---\n{log_tail}", pytrace=False)
    pytest.skip(reason)


BUSES = frozenset({"embedded", "kafka"})
DATABASES = frozenset({"sqlite", "postgres"})
DEPLOYMENTS = frozenset({("embedded", "sqlite"), ("kafka", "postgres")})
"""The pairs of bus and database a test parametrized on both runs on: the embedded defaults
and production. Each bus and each database is tested on its own by tests/bus and
tests/storage; the mixed pairs doubled the suite's longest folders and found nothing the
two deployments people run do not."""


def _mixed_deployment(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    values = {value for value in params if isinstance(value, str)}
    buses, databases = values & BUSES, values & DATABASES
    return bool(buses and databases) and (min(buses), min(databases)) not in DEPLOYMENTS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use a service fixture get its marker, so `-m "not kafka"` deselects them;
    a test parametrized on both bus and database runs on the two `DEPLOYMENTS` only."""
    mixed = [item for item in items if _mixed_deployment(item)]
    if mixed:
        config.hook.pytest_deselected(items=mixed)
        dropped = set(mixed)
        items[:] = [item for item in items if item not in dropped]
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & KAFKA_FIXTURES:
            item.add_marker(pytest.mark.kafka)
        if names & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def kafka_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    """The session's own broker (deploy/kafka/launcher.py KafkaNode): restart()/kill()/start().

    Skipped when AXIS_TEST_KAFKA_BOOTSTRAP names an external broker, which we cannot restart.
    """
    if os.environ.get(KAFKA_ENV):
        pytest.skip(f"{KAFKA_ENV} points at an external broker; it cannot be restarted")
    launcher = _launcher("kafka")
    node: KafkaNode = launcher.KafkaNode(tmp_path_factory.mktemp("kafka"), die_with_parent=True)
    try:
        node.start()
    except Exception as exc:
        try:
            _unavailable("Kafka", exc, node.log_path)
        finally:
            with contextlib.suppress(Exception):
                node.stop()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A three-node KRaft cluster (deploy/kafka/launcher.py KafkaCluster) whose nodes the tests
    kill and restart: started for the module that asks for it, killed after it (its data is
    thrown away; a clean stop costs 5 s more), and always the tests' own, whatever
    AXIS_TEST_KAFKA_BOOTSTRAP says."""
    launcher = _launcher("kafka")
    cluster: KafkaCluster = launcher.KafkaCluster(
        tmp_path_factory.mktemp("kafka-cluster"), brokers=3, die_with_parent=True
    )
    try:
        cluster.start()
    except Exception as exc:
        try:
            _unavailable("Kafka cluster", exc, None)
        finally:
            with contextlib.suppress(Exception):
                cluster.stop()
    try:
        yield cluster
    finally:
        for node in cluster.nodes.values():
            node.kill()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """host:port of a Kafka broker: AXIS_TEST_KAFKA_BOOTSTRAP, else the session's own."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        return external
    node: KafkaNode = request.getfixturevalue("kafka_node")
    return node.bootstrap


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy async URL (postgresql+asyncpg://...) of a PostgreSQL database."""
    external = os.environ.get(POSTGRES_ENV)
    if external:
        yield external
        return
    launcher = _launcher("postgres")
    node = launcher.PostgresNode(tmp_path_factory.mktemp("postgres"))
    try:
        url: str = node.start()
    except Exception as exc:
        try:
            _unavailable("PostgreSQL", exc, node.log_path)
        finally:
            with contextlib.suppress(Exception):
                node.stop(remove=True)
    try:
        yield url
    finally:
        node.stop(remove=True)


@pytest.fixture(scope="session")
def haproxy_launcher() -> ModuleType:
    """deploy/haproxy/launcher.py (`HAProxyNode`), once HAProxy is installed."""
    launcher = _launcher("haproxy")
    try:
        launcher.ensure_installed()
    except launcher.LauncherError as exc:
        _unavailable("HAProxy", exc, None)
    return launcher


@pytest.fixture(scope="session")
def postgres_launcher() -> ModuleType:
    """deploy/postgres/launcher.py (`PostgresNode`), for a test that restarts its own server."""
    return _launcher("postgres")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran against each real service, so a green run cannot hide skips."""
    terminalreporter.section("real services")
    for service in ("kafka", "postgres"):
        counts = {
            outcome: sum(
                1
                for report in terminalreporter.stats.get(outcome, [])
                if service in getattr(report, "keywords", {})
                and report.when in ("call", "setup")
                and (outcome != "passed" or report.when == "call")
            )
            for outcome in ("passed", "failed", "skipped")
        }
        terminalreporter.write_line(
            f"tests on a real {service}: passed {counts['passed']}, "
            f"failed {counts['failed']}, skipped {counts['skipped']}"
        )
