"""Run a real Apache Kafka (KRaft) broker, or a local cluster of them, from Maven Central jars.

Why: the tests and local runs need a real broker (and a cluster to kill brokers of), and the
machines have Java and Maven Central but neither Docker nor a Kafka download. Standard
library only, so it runs before the project is installed.

CLI:     python deploy/kafka/launcher.py fetch|start|stop|status [--dir DIR] [--version V]
         python deploy/kafka/launcher.py start --brokers 3 | kill --node ID | ...
Library: node = KafkaNode(run_dir); node.start() -> "127.0.0.1:PORT"; node.restart();
         node.kill(); node.stop()
         cluster = KafkaCluster(run_dir, 3); cluster.start() -> "127.0.0.1:P1,...";
         cluster.node(2).kill(); cluster.node(2).start(); cluster.stop()
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # deploy/launcher_support.py
from launcher_support import (
    LauncherError,
    die_with_parent,
    free_ports,
    pid_alive,
    read_json,
    spawn_in_keeper,
    tail,
    tail_text,
    write_json,
)

DEFAULT_VERSION = "3.9.2"
POM = Path(__file__).resolve().with_name("pom.xml")
CACHE_ENV = "AXIS_KAFKA_CACHE"
STATE_FILE = "state.json"
LOG_FILE = "kafka.log"
# Logged by KafkaRaftServer once both the controller and the (unfenced) broker are up.
STARTED_MARKER = b"Kafka Server started"
MANIFEST = ".manifest.json"
POLL_INTERVAL = 0.2
CLUSTER_STATE_FILE = "cluster.json"
API_VERSIONS = 18  # Kafka API keys of the two requests the launcher sends itself
METADATA = 3


class PortsTaken(LauncherError):
    """Another process took a port between picking and binding it; retry with new ports."""


# --------------------------------------------------------------------------- fetching


def cache_root() -> Path:
    """Root of the jar cache: $AXIS_KAFKA_CACHE or ~/.cache/edoc-axis/kafka."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edoc-axis" / "kafka"


def libs_dir(version: str = DEFAULT_VERSION) -> Path:
    """Where the jars of one Kafka version live: <cache_root>/<version>/libs."""
    return cache_root() / version / "libs"


def _major(version: str) -> int:
    return int(version.split(".", 1)[0])


def _maven_key(version: str) -> str:
    """Identifies what a cache was built from, so editing pom.xml refreshes it."""
    digest = hashlib.sha256(POM.read_bytes())
    digest.update(version.encode())
    return digest.hexdigest()


def _cache_complete(libs: Path, key: str) -> bool:
    try:
        manifest = json.loads((libs / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    jars = manifest.get("jars") or []
    return manifest.get("key") == key and bool(jars) and all((libs / j).is_file() for j in jars)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialises fetches of one version across processes (parallel test sessions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(version: str = DEFAULT_VERSION) -> Path:
    """Make sure the jars of `version` are in the cache and return the libs directory.

    Runs Maven only when the cache is missing, incomplete or built from another pom.
    """
    libs = libs_dir(version)
    key = _maven_key(version)
    if _cache_complete(libs, key):
        return libs
    with _file_lock(libs.parent / ".lock"):
        if _cache_complete(libs, key):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LauncherError("mvn (Apache Maven) is not on PATH; it is needed to fetch Kafka")
        work = Path(tempfile.mkdtemp(prefix="fetch-", dir=libs.parent))
        try:
            # Run in a scratch copy so nothing (target/, logs) lands in the source tree.
            shutil.copy(POM, work / "pom.xml")
            cmd = [
                mvn,
                "-B",
                "-q",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={work / 'libs'}",
                f"-Dkafka.version={version}",
            ]
            if _major(version) >= 4:
                cmd += ["-P", "kafka4"]
            done = subprocess.run(
                cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True
            )
            if done.returncode != 0:
                tail = tail_text(done.stdout + done.stderr)
                raise LauncherError(f"Maven could not fetch Kafka {version}", tail)
            jars = sorted(p.name for p in (work / "libs").glob("*.jar"))
            if not any(j.startswith("kafka_2.13-") for j in jars):
                raise LauncherError(f"Maven fetched no kafka_2.13 jar for {version}")
            (work / "libs" / MANIFEST).write_text(json.dumps({"key": key, "jars": jars}))
            if libs.exists():
                shutil.rmtree(libs)
            (work / "libs").rename(libs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return libs


# --------------------------------------------------------------------------- helpers


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise LauncherError("java is not on PATH (Kafka needs Java 17)")
    return found


def random_cluster_id() -> str:
    """A Kafka Uuid as StorageTool random-uuid prints it, without starting a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _request(
    host: str, port: int, api_key: int, api_version: int, body: bytes, timeout: float
) -> bytes | None:
    """One Kafka request (request header v1) and its response body after the correlation id;
    None when the connection fails or the correlation id does not match."""
    client_id = b"axis-launcher"
    correlation = 0x0A215
    header = struct.pack(">hhih", api_key, api_version, correlation, len(client_id)) + client_id
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            payload = _recv_exact(sock, min(size, 1 << 20))
    except OSError:
        return None
    if len(payload) < 4 or struct.unpack(">i", payload[:4])[0] != correlation:
        return None
    return payload[4:]


def api_versions_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when the broker answers an ApiVersions (v0) request without error.

    A TCP connect alone is not enough: the port is bound before requests are served.
    """
    response = _request(host, port, API_VERSIONS, 0, b"", timeout)
    return response is not None and len(response) >= 2 and struct.unpack(">h", response[:2])[0] == 0


def live_brokers(host: str, port: int, timeout: float = 2.0) -> set[int] | None:
    """Ids of the brokers the cluster metadata lists as alive (a Metadata v1 request for no
    topics), or None when the broker does not answer. A fenced broker is not listed."""
    response = _request(host, port, METADATA, 1, struct.pack(">i", 0), timeout)
    if response is None:
        return None
    try:
        (count,) = struct.unpack_from(">i", response, 0)
        offset, brokers = 4, set()
        for _ in range(count):
            node_id, host_length = struct.unpack_from(">ih", response, offset)
            offset += 6 + host_length + 4  # node id, host, port
            (rack_length,) = struct.unpack_from(">h", response, offset)
            offset += 2 + max(rack_length, 0)
            brokers.add(node_id)
    except struct.error:
        return None
    return brokers


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
"""


# --------------------------------------------------------------------------- the node


class KafkaNode:
    """One combined broker+controller on loopback, with its config, data and log in run_dir.

    Creating a node on a run_dir that already holds a state file resumes it: same ports,
    same data. That is what restart() relies on and what crash tests need.
    """

    def __init__(
        self,
        run_dir: Path | str,
        version: str | None = None,
        *,
        heap: str = "512m",
        extra_config: Mapping[str, str] | None = None,
        die_with_parent: bool = False,
        node_id: int = 1,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        state = self._read_state()
        self.version: str = version or state.get("version") or DEFAULT_VERSION
        self.node_id: int = state.get("node_id") or node_id
        self.heap = heap
        self.extra_config: dict[str, str] = dict(extra_config or {})
        self.die_with_parent = die_with_parent
        self.port: int | None = state.get("port")
        self.controller_port: int | None = state.get("controller_port")
        self.cluster_id: str | None = state.get("cluster_id")
        self._pid: int | None = state.get("pid")
        self.process: subprocess.Popen[bytes] | None = None

    # ---- paths and state

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise LauncherError("the broker has no port yet: start() it first")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else self._pid

    def _read_state(self) -> dict[str, Any]:
        return read_json(self.state_path)

    def _write_state(self) -> None:
        state = {
            "version": self.version,
            "node_id": self.node_id,
            "bootstrap": self.bootstrap,
            "port": self.port,
            "controller_port": self.controller_port,
            "cluster_id": self.cluster_id,
            "pid": self.pid,
            "log": str(self.log_path),
        }
        write_json(self.state_path, state)

    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        pid = self._pid
        return pid is not None and pid_alive(pid) and self._is_ours(pid)

    def _is_ours(self, pid: int) -> bool:
        """Guards against signalling a recycled pid."""
        cmd = _cmdline(pid)
        return not cmd or ("kafka.Kafka" in cmd and str(self.config_path) in cmd)

    # ---- configuration

    def _formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()

    def _write_config(self) -> None:
        assert self.port is not None and self.controller_port is not None
        props: dict[str, str] = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            # After a crash (SIGKILL) the controller accepts the broker's new registration
            # only once the old session expires: 9s by default, which slows crash tests.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "500",
            "num.io.threads": "4",
            "num.network.threads": "2",
        }
        props.update(self.extra_config)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        self.config_path.write_text("# written by deploy/kafka/launcher.py\n" + text)
        if _major(self.version) >= 4:
            (self.run_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        else:
            (self.run_dir / "log4j.properties").write_text(LOG4J_PROPERTIES)

    def _jvm_args(self) -> list[str]:
        if _major(self.version) >= 4:
            logging = f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}"
        else:
            logging = f"-Dlog4j.configuration=file:{self.run_dir / 'log4j.properties'}"
        return [
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            logging,
        ]

    def _format(self, libs: Path) -> None:
        assert self.cluster_id is not None
        cmd = [
            _java(),
            *self._jvm_args(),
            "-XX:TieredStopAtLevel=1",  # a short-lived tool: the C2 compiler only costs CPU
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.cluster_id,
            "-c",
            str(self.config_path),
        ]
        done = subprocess.run(
            cmd, cwd=self.run_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        with self.log_path.open("a") as log:
            log.write(f"# StorageTool format (exit {done.returncode})\n{done.stdout}{done.stderr}")
        if done.returncode != 0 or not self._formatted():
            raise LauncherError(
                "StorageTool could not format the KRaft storage",
                tail_text(done.stdout + done.stderr),
            )

    # ---- lifecycle

    def configure(self, port: int, controller_port: int, cluster_id: str | None = None) -> None:
        """Write the config for these ports and format the storage (once, with the cluster id).

        start() does this itself on a fresh directory; a cluster configures its nodes first,
        because every node's config lists every node's controller port.
        """
        self.port, self.controller_port = port, controller_port
        self.cluster_id = cluster_id or self.cluster_id or random_cluster_id()
        self._write_config()
        if not self._formatted():
            self._format(fetch(self.version))
        self._write_state()

    def start(self, timeout: float = 120.0) -> str:
        """Start (or resume) the broker and wait until it serves requests; returns bootstrap."""
        if self.is_running():
            return self.bootstrap
        libs = fetch(self.version)
        fresh = not self._formatted()
        attempts = 3 if fresh else 1
        for attempt in range(1, attempts + 1):
            if fresh:
                port, controller_port = free_ports(2)
                self.configure(port, controller_port)
            elif self.port is None or not self.config_path.is_file():
                raise LauncherError(f"{self.run_dir} holds data but no state/config to resume")
            try:
                self._launch(libs, timeout)
            except PortsTaken:
                if attempt == attempts:
                    raise
                continue
            self._write_state()
            return self.bootstrap
        raise AssertionError("unreachable")

    def _launch(self, libs: Path, timeout: float) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            offset = log.tell()
            log.write(f"# starting kafka.Kafka {self.version} at {time.ctime()}\n".encode())
            log.flush()
            cmd = [_java(), *self._jvm_args(), "-cp", f"{libs}/*", "kafka.Kafka"]

            def spawn() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [*cmd, str(self.config_path)],
                    cwd=self.run_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent if self.die_with_parent else None,
                )

            self.process = spawn_in_keeper(spawn) if self.die_with_parent else spawn()
        self._pid = self.process.pid
        deadline = time.monotonic() + timeout
        seen_marker = False
        with self.log_path.open("rb") as reader:
            reader.seek(offset)
            window = b""
            while True:
                window = window[-256:] + reader.read()
                if b"Address already in use" in window:
                    self._terminate(10.0)
                    raise PortsTaken("Kafka could not bind its ports", tail(self.log_path))
                seen_marker = seen_marker or STARTED_MARKER in window
                if seen_marker and api_versions_ok("127.0.0.1", self.port or 0):
                    return
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self.process = None
                    self._pid = None
                    raise LauncherError(
                        f"Kafka exited with code {code} while starting", tail(self.log_path)
                    )
                if time.monotonic() > deadline:
                    self._terminate(10.0)
                    raise LauncherError(
                        f"Kafka did not come up within {timeout:.0f}s", tail(self.log_path)
                    )
                time.sleep(POLL_INTERVAL)

    def _terminate(self, timeout: float, sig: int = signal.SIGTERM) -> None:
        """Signal the broker, wait up to `timeout`, then SIGKILL."""
        pid = self.pid
        if pid is None:
            return
        if self.process is None and not (pid_alive(pid) and self._is_ours(pid)):
            self._pid = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if not self._wait_exit(pid, timeout) and sig != signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 30.0)
        self.process = None
        self._pid = None

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown: SIGTERM, wait up to `timeout`, then SIGKILL. Keeps data and ports."""
        self._terminate(timeout)
        if self.port is not None:
            self._write_state()

    def kill(self) -> None:
        """Crash the broker (SIGKILL, no shutdown); start() or restart() brings it back."""
        self._terminate(30.0, signal.SIGKILL)
        if self.port is not None:
            self._write_state()

    def restart(self, timeout: float = 120.0, *, hard: bool = False) -> str:
        """Stop (SIGTERM, or SIGKILL when hard) and start again on the same ports and data."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)


# --------------------------------------------------------------------------- the cluster


class KafkaCluster:
    """Several combined broker+controller nodes on loopback: one KRaft cluster.

    Node `i` (ids 1..brokers) is a KafkaNode in run_dir/node-<i>/; every node lists all of
    them in `controller.quorum.voters` and shares one cluster id. Topics are replicated
    min(brokers, 3) times and an acks=all write needs a majority of the replicas in sync
    (`min.insync.replicas=2` for three); unclean leader election is off. The nodes' ports
    and the cluster id are in run_dir/cluster.json, so a cluster resumes like a node does.
    """

    def __init__(
        self,
        run_dir: Path | str,
        brokers: int | None = None,
        version: str | None = None,
        *,
        heap: str = "384m",
        die_with_parent: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        state = read_json(self.state_path)
        saved = state.get("brokers")
        if brokers is not None and saved is not None and brokers != saved:
            raise LauncherError(f"{self.run_dir} holds a cluster of {saved} brokers, not {brokers}")
        self.brokers: int = saved or brokers or 3
        if self.brokers < 2:
            raise LauncherError("a cluster needs at least two brokers")
        self.version: str = version or state.get("version") or DEFAULT_VERSION
        self.cluster_id: str = state.get("cluster_id") or random_cluster_id()
        self.nodes: dict[int, KafkaNode] = {
            node_id: KafkaNode(
                self.run_dir / f"node-{node_id}",
                self.version,
                heap=heap,
                die_with_parent=die_with_parent,
                node_id=node_id,
            )
            for node_id in range(1, self.brokers + 1)
        }

    @property
    def state_path(self) -> Path:
        return self.run_dir / CLUSTER_STATE_FILE

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma-separated: a client finds the cluster through any."""
        return ",".join(node.bootstrap for node in self.nodes.values())

    def node(self, node_id: int) -> KafkaNode:
        """One node by id, to stop, kill() or start() it alone (same ports, same data)."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise LauncherError(f"no node {node_id}: the ids are 1..{self.brokers}") from None

    def is_running(self) -> bool:
        """True when every node runs."""
        return all(node.is_running() for node in self.nodes.values())

    def live_brokers(self) -> set[int]:
        """The brokers the cluster's metadata lists as alive, asked of the first that answers."""
        for node in self.nodes.values():
            if node.port is not None and node.is_running():
                brokers = live_brokers("127.0.0.1", node.port)
                if brokers is not None:
                    return brokers
        return set()

    def _config(self, voters: str) -> dict[str, str]:
        replicas = min(self.brokers, 3)
        in_sync = str(replicas // 2 + 1)
        return {
            "controller.quorum.voters": voters,
            "default.replication.factor": str(replicas),
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": in_sync,
            "min.insync.replicas": in_sync,
            "unclean.leader.election.enable": "false",
        }

    def _configure(self) -> None:
        """New ports for every node; formats each node's storage the first time."""
        ports = free_ports(2 * self.brokers)
        voters = ",".join(f"{i}@127.0.0.1:{ports[2 * i - 1]}" for i in self.nodes)
        for node in self.nodes.values():
            node.extra_config.update(self._config(voters))
        self._each(
            lambda node: node.configure(
                ports[2 * node.node_id - 2], ports[2 * node.node_id - 1], self.cluster_id
            )
        )
        state = {
            "version": self.version,
            "brokers": self.brokers,
            "cluster_id": self.cluster_id,
            "bootstrap": self.bootstrap,
            "nodes": [
                {"id": i, "port": node.port, "controller_port": node.controller_port}
                for i, node in self.nodes.items()
            ],
        }
        write_json(self.state_path, state)

    def _each(self, job: Callable[[KafkaNode], object]) -> None:
        """Run `job` on every node at once (a node waits for the quorum, which needs the
        others); raises the first failure, a PortsTaken first, once all have finished."""
        with ThreadPoolExecutor(max_workers=self.brokers) as pool:
            futures = [pool.submit(job, node) for node in self.nodes.values()]
        errors = [exc for f in futures if (exc := f.exception()) is not None]
        errors.sort(key=lambda exc: not isinstance(exc, PortsTaken))
        if errors:
            raise errors[0]

    def start(self, timeout: float = 120.0) -> str:
        """Start (or resume) every node at once, wait until all serve requests and the
        metadata lists every broker alive; returns the bootstrap list."""
        fetch(self.version)
        fresh = not self.state_path.is_file()
        attempts = 3 if fresh else 1
        for attempt in range(1, attempts + 1):
            if fresh:
                self._configure()
            try:
                self._each(lambda node: node.start(timeout))
                self._wait_for_brokers(timeout)
            except LauncherError as exc:
                if fresh:
                    self.stop()
                if isinstance(exc, PortsTaken) and attempt < attempts:
                    continue
                raise
            return self.bootstrap
        raise AssertionError("unreachable")

    def _wait_for_brokers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (alive := self.live_brokers()) != set(self.nodes):
            if time.monotonic() > deadline:
                raise LauncherError(
                    f"the cluster lists brokers {sorted(alive)} alive, not all of "
                    f"{sorted(self.nodes)}, after {timeout:.0f}s"
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown of every node at once. Keeps data and ports."""
        self._each(lambda node: node.stop(timeout))

    def status(self) -> list[dict[str, Any]]:
        """Each node's id, port, pid, whether it runs, and its log."""
        return [
            {
                "node": i,
                "port": node.port,
                "pid": node.pid,
                "running": node.is_running(),
                "log": node.log_path,
            }
            for i, node in self.nodes.items()
        ]


# --------------------------------------------------------------------------- CLI


def _default_run_dir() -> Path:
    return Path(tempfile.gettempdir()) / "edoc-axis-kafka"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "start", "stop", "status", "kill"])
    parser.add_argument("--dir", type=Path, default=_default_run_dir(), help="run directory")
    parser.add_argument(
        "--version", default=None, help=f"Kafka version (default {DEFAULT_VERSION})"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    parser.add_argument("--fresh", action="store_true", help="start: wipe the run directory first")
    parser.add_argument(
        "--brokers", type=int, default=None, help="start: nodes in the cluster (default 1)"
    )
    parser.add_argument(
        "--node", type=int, default=None, help="start, stop, kill: only this node of a cluster"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"libs={fetch(args.version or DEFAULT_VERSION)}")
            return 0
        if args.command == "start" and args.fresh and args.dir.exists():
            _stop_any(args.dir)
            shutil.rmtree(args.dir)
        cluster = (args.brokers or 1) > 1 or (args.dir / CLUSTER_STATE_FILE).is_file()
        if cluster and (args.dir / STATE_FILE).is_file():
            raise LauncherError(f"{args.dir} holds a single node, not a cluster")
        if cluster:
            return _cluster_command(args)
        if args.node is not None or args.command == "kill":
            raise LauncherError(f"{args.dir} holds no cluster: --node and kill need one")
        return _node_command(args)
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _shown(value: object) -> str:
    return str(value).lower() if value is None or isinstance(value, bool) else str(value)


def _stop_any(run_dir: Path) -> None:
    if (run_dir / CLUSTER_STATE_FILE).is_file():
        KafkaCluster(run_dir).stop()
    else:
        KafkaNode(run_dir).stop()


def _node_command(args: argparse.Namespace) -> int:
    node = KafkaNode(args.dir, args.version)
    if args.command == "start":
        print(f"bootstrap={node.start(args.timeout)}")
        print(f"pid={node.pid}")
        print(f"log={node.log_path}")
    elif args.command == "stop":
        node.stop(args.timeout)
        print("stopped")
    else:
        running = node.is_running()
        print(f"running={str(running).lower()}")
        if node.port is not None:
            print(f"bootstrap={node.bootstrap}")
        if running:
            print(f"pid={node.pid}")
        return 0 if running else 3
    return 0


def _cluster_command(args: argparse.Namespace) -> int:
    cluster = KafkaCluster(args.dir, args.brokers, args.version)
    if args.command == "kill" and args.node is None:
        raise LauncherError("kill needs --node ID")
    if args.node is not None:
        node = cluster.node(args.node)
        if args.command == "start":
            node.start(args.timeout)
        elif args.command == "stop":
            node.stop(args.timeout)
        elif args.command == "kill":
            node.kill()
    elif args.command == "start":
        cluster.start(args.timeout)
    elif args.command == "stop":
        cluster.stop(args.timeout)
    running = cluster.is_running()
    if args.command == "status":
        print(f"running={str(running).lower()}")
    if cluster.nodes[1].port is not None:
        print(f"bootstrap={cluster.bootstrap}")
    for line in cluster.status():
        if args.node is None or line["node"] == args.node:
            print(" ".join(f"{key}={_shown(value)}" for key, value in line.items()))
    return 0 if running or args.command != "status" else 3


if __name__ == "__main__":
    sys.exit(main())
