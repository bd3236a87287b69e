"""The deployment files under deploy/ are valid, and name what the code has.

Offline and without a container engine: the Kubernetes schemas come inside the
kubernetes-validate package, the Compose schema is vendored
(deploy/compose/schema/SOURCE.md). The consistency checks read the code itself
(`axis.config.Settings`, the `axis` CLI, the app's routes, pyproject's version), so a
setting, command or route renamed there fails here until deploy/ follows.
Each check returns its problems as text; a test asserts there are none, and a second test
breaks a copy on purpose to show the check can fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer
import typer.main
import yaml
from fastapi import FastAPI
from starlette.routing import Match

from axis.app import create_app
from axis.cli import app as cli
from axis.config import Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE_SCHEMA = COMPOSE / "schema" / "compose-spec.json"

KUBERNETES_VERSIONS = ("1.29", "1.37")
"""The oldest Kubernetes the manifests are for, and the newest kubernetes-validate knows."""
NOT_APPLIED_BY_KUSTOMIZE = {"secrets.example.yaml", "migrate-job.yaml"}
"""Applied by hand (deploy/README.md): real secrets must not be overwritten, and a Job's
pod template cannot change in place."""
STRIMZI = "kafka.strimzi.io/v1beta2"
ENVIRONMENT_ONLY = {"AXIS_CONFIG_FILE"}
"""Read by axis/config.py from the environment, not a field of Settings."""
ROLES = {("serve", "--only-api"), ("worker",), ("audit-writer",), ("migrate",)}
"""What a scaled-out deployment runs: every one must appear, in Compose and Kubernetes."""
COMPONENT = "app.kubernetes.io/component"
DEFAULT_PORT: int = Settings.model_fields["port"].default
AXIS_VARIABLE = re.compile(r"\bAXIS_[A-Z0-9_]+\b(?!\*)")
IMAGE_NAME = re.compile(r"\bedoc-axis:[0-9][\w.+-]*")


Document = dict[str, Any]


def load_yaml_documents(path: Path) -> list[Document]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def kubernetes_documents() -> list[tuple[str, Document]]:
    """Every resource under deploy/kubernetes (kustomization.yaml is not one)."""
    return [
        (path.name, document)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in load_yaml_documents(path)
    ]


def compose_file() -> Document:
    [document] = load_yaml_documents(COMPOSE / "compose.yaml")
    return document


def of_kind(documents: list[tuple[str, Document]], kind: str) -> list[Document]:
    return [document for _, document in documents if document["kind"] == kind]


def workloads(documents: list[tuple[str, Document]]) -> Iterator[Document]:
    """The Deployments and Jobs, whose pod templates run the axis."""
    for _, document in documents:
        if document["kind"] in ("Deployment", "Job"):
            yield document


def containers(workload: Document) -> list[Document]:
    containers: list[Document] = workload["spec"]["template"]["spec"]["containers"]
    return containers


# --- Schemas -------------------------------------------------------------------------------


def kubernetes_schema_problems(document: Document, version: str) -> list[str]:
    """What the Kubernetes `version` schema says is wrong with the resource (strict: an
    unknown field is wrong, so a misspelled probe is not silently ignored)."""
    name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{name} (Kubernetes {version}): {exc.message} at {exc.json_path}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name}: no schema for {document.get('apiVersion')} in Kubernetes {version}"]
    return []


def strimzi_problems(documents: list[tuple[str, Document]]) -> list[str]:
    """kubernetes-validate has no schema for Strimzi's custom resources: what the operator
    requires of a KRaft cluster on node pools, checked by hand."""
    problems = []
    custom = [document for _, document in documents if document["apiVersion"] == STRIMZI]
    clusters = [document for document in custom if document["kind"] == "Kafka"]
    pools = [document for document in custom if document["kind"] == "KafkaNodePool"]
    if len(clusters) != 1 or not pools or len(custom) != len(clusters) + len(pools):
        return [f"expected one Kafka and its KafkaNodePools, found {[d['kind'] for d in custom]}"]
    [cluster] = clusters
    name = cluster["metadata"]["name"]
    annotations = cluster["metadata"].get("annotations", {})
    for annotation in ("strimzi.io/kraft", "strimzi.io/node-pools"):
        if annotations.get(annotation) != "enabled":
            problems.append(f"Kafka {name}: {annotation} is not enabled")
    kafka = cluster["spec"]["kafka"]
    for listener in kafka.get("listeners") or [None]:
        if not isinstance(listener, dict) or not {"name", "port", "type", "tls"} <= set(listener):
            problems.append(f"Kafka {name}: a listener needs name, port, type and tls: {listener}")
    expected = {
        "default.replication.factor": 3,
        "min.insync.replicas": 2,
        "unclean.leader.election.enable": False,
    }
    config = kafka.get("config", {})
    for key, value in expected.items():
        if config.get(key) != value:
            problems.append(f"Kafka {name}: {key} is {config.get(key)!r}, not {value!r}")
    nodes = 0
    for pool in pools:
        pool_name = pool["metadata"]["name"]
        if pool["metadata"].get("labels", {}).get("strimzi.io/cluster") != name:
            problems.append(f"KafkaNodePool {pool_name}: not labelled strimzi.io/cluster={name}")
        spec = pool["spec"]
        if not {"replicas", "roles", "storage"} <= set(spec):
            problems.append(f"KafkaNodePool {pool_name}: needs replicas, roles and storage")
            continue
        if set(spec["roles"]) == {"broker", "controller"}:
            nodes += spec["replicas"]
    if nodes != 3:
        problems.append(f"Kafka {name}: {nodes} combined broker+controller nodes, not 3")
    return problems


def compose_schema_problems(document: Document) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_kubernetes_manifests_match_their_schemas() -> None:
    documents = kubernetes_documents()
    assert len(documents) >= 10  # the glob found the manifests
    problems = [
        problem
        for _, document in documents
        if document["apiVersion"] != STRIMZI  # strimzi_problems checks those
        for version in KUBERNETES_VERSIONS
        for problem in kubernetes_schema_problems(document, version)
    ]
    assert problems == []


def test_the_kubernetes_schema_check_refuses_a_misspelled_field() -> None:
    [api] = [d for d in workloads(kubernetes_documents()) if d["metadata"]["name"] == "axis-api"]
    broken = copy.deepcopy(api)
    [container] = containers(broken)
    get = container["readinessProbe"]["httpGet"]
    get["paht"] = get.pop("path")
    [problem] = kubernetes_schema_problems(broken, KUBERNETES_VERSIONS[-1])
    assert "paht" in problem


def test_the_strimzi_cluster_is_a_three_node_kraft_cluster() -> None:
    documents = kubernetes_documents()
    assert strimzi_problems(documents) == []
    broken = copy.deepcopy(documents)
    [cluster] = [d for _, d in broken if d["kind"] == "Kafka"]
    cluster["spec"]["kafka"]["config"]["unclean.leader.election.enable"] = True
    assert strimzi_problems(broken) == [
        "Kafka axis-kafka: unclean.leader.election.enable is True, not False"
    ]


def test_kustomization_applies_every_manifest_but_those_applied_by_hand() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    manifests = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - NOT_APPLIED_BY_KUSTOMIZE


def test_compose_file_matches_the_compose_specification() -> None:
    assert compose_schema_problems(compose_file()) == []


def test_the_compose_schema_check_refuses_a_misspelled_key() -> None:
    broken = compose_file()
    broken["services"]["api-1"]["enviroment"] = broken["services"]["api-1"].pop("environment")
    problems = compose_schema_problems(broken)
    assert problems and all("enviroment" in problem for problem in problems)


def test_the_vendored_compose_schema_is_the_one_its_note_names() -> None:
    digest = hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest()
    assert f"`{digest}`" in (COMPOSE / "schema" / "SOURCE.md").read_text()


# --- Settings ------------------------------------------------------------------------------


def compose_axis_services(compose: Document) -> dict[str, Document]:
    """The Compose services that run the axis image."""
    return {
        name: service
        for name, service in compose["services"].items()
        if IMAGE_NAME.fullmatch(service.get("image", ""))
    }


def named_variables() -> dict[str, set[str]]:
    """Every AXIS_* variable the deployment sets, and where: the Compose services'
    environments, the ConfigMap, the Secrets and the containers' env, the Dockerfile, and
    any mention in the files' comments or deploy/README.md."""
    places: dict[str, set[str]] = {}

    def seen(name: str, where: str) -> None:
        if name.startswith("AXIS_"):
            places.setdefault(name, set()).add(where)

    for service_name, service in compose_axis_services(compose_file()).items():
        for name in service.get("environment", {}):
            seen(name, f"compose.yaml {service_name}")
    documents = kubernetes_documents()
    for document in of_kind(documents, "ConfigMap"):
        for name in document["data"]:
            seen(name, f"ConfigMap {document['metadata']['name']}")
    for document in of_kind(documents, "Secret"):
        for name in document.get("stringData", {}):
            seen(name, f"Secret {document['metadata']['name']}")
    for workload in workloads(documents):
        for container in containers(workload):
            for variable in container.get("env", []):
                seen(variable["name"], f"{workload['kind']} {workload['metadata']['name']}")
    for path in deploy_text_files():
        for name in AXIS_VARIABLE.findall(path.read_text()):
            seen(name, str(path.relative_to(ROOT)))
    return places


def deploy_text_files() -> list[Path]:
    files = [*KUBERNETES.glob("*.yaml"), *COMPOSE.glob("*.*"), DOCKERFILE]
    return [*files, DEPLOY / "README.md"]


def unknown_settings(
    places: Mapping[str, set[str]], fields: Mapping[str, object] = Settings.model_fields
) -> list[str]:
    """The variables that name no setting of `fields`, with where they are named."""
    return [
        f"{name} in {', '.join(sorted(where))}"
        for name, where in sorted(places.items())
        if name not in ENVIRONMENT_ONLY and name.removeprefix("AXIS_").lower() not in fields
    ]


def test_every_axis_variable_is_a_setting() -> None:
    places = named_variables()
    assert {"AXIS_BUS", "AXIS_KAFKA_BOOTSTRAP", "AXIS_SIGNING_KEY_FILE"} <= set(places)
    assert any("ConfigMap" in where for where in places["AXIS_BUS"])
    assert any("compose.yaml" in where for where in places["AXIS_BUS"])
    assert unknown_settings(places) == []


def test_a_renamed_setting_is_caught() -> None:
    renamed: dict[str, object] = dict(Settings.model_fields)
    renamed["kafka_bootstrap_servers"] = renamed.pop("kafka_bootstrap", None)
    [problem] = unknown_settings(named_variables(), renamed)
    assert problem.startswith("AXIS_KAFKA_BOOTSTRAP in ") and "ConfigMap" in problem


def test_the_signing_files_are_the_mounted_secrets() -> None:
    """The processes that sign (API: receipts, evidence; audit writer: checkpoints) have the
    key where the settings say: Compose, the secret at /run/secrets/<name>; Kubernetes, the
    axis-identity Secret's key under the path it is mounted at. Workers sign nothing and
    get no key."""
    file_settings = [
        "AXIS_SIGNING_KEY_FILE",
        "AXIS_SIGNING_CERTIFICATE_FILE",
        "AXIS_TRUST_ROOTS_FILE",
    ]
    for name, service in compose_axis_services(compose_file()).items():
        secrets = {f"/run/secrets/{secret}" for secret in service.get("secrets", [])}
        if service["command"][0] in ("worker", "migrate"):
            assert secrets == set(), name
            continue
        for setting in file_settings:
            assert service["environment"][setting] in secrets, (name, setting)

    documents = kubernetes_documents()
    [settings] = of_kind(documents, "ConfigMap")
    [identity] = [
        d for d in of_kind(documents, "Secret") if d["metadata"]["name"] == "axis-identity"
    ]
    for workload in workloads(documents):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        volumes = [
            v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "axis-identity"
        ]
        if workload["spec"]["template"]["metadata"]["labels"][COMPONENT] in ("worker", "migrate"):
            assert volumes == [], name
            continue
        [volume] = volumes
        [container] = pod["containers"]
        [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        for setting in file_settings:
            path = Path(settings["data"][setting])
            assert path.parent == Path(mount["mountPath"]), (name, setting)
            assert path.name in identity["stringData"], setting


# --- Routes, ports, commands, images -------------------------------------------------------


@cache
def axis_app() -> FastAPI:
    """The axis app as built (not started: nothing is opened until it serves)."""
    return create_app(Settings(data_dir=Path("/nonexistent/axis-deploy-test")))


def serves(path: str) -> bool:
    """Whether a GET of `path` reaches a route of the app (Starlette's own matching)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in axis_app().routes)


def probe_problems(path: str, port: int, metrics_port: int | None, where: str) -> list[str]:
    """A probe on the axis's port must ask a path the app serves; one on a worker's metrics
    port (AXIS_WORKER_METRICS_PORT, prometheus_client's server) asks /metrics."""
    if port == DEFAULT_PORT and serves(path):
        return []
    if port == metrics_port and path == "/metrics":
        return []
    return [f"{where}: probe of {path} on port {port}, which does not serve it"]


def kubernetes_probe_problems(documents: list[tuple[str, Document]]) -> list[str]:
    [settings] = of_kind(documents, "ConfigMap")
    metrics_port = int(settings["data"]["AXIS_WORKER_METRICS_PORT"])
    problems = []
    for workload in workloads(documents):
        for container in containers(workload):
            ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe not in container:
                    continue
                get = container[probe]["httpGet"]
                port = ports.get(get["port"], get["port"])
                where = f"{workload['metadata']['name']} {probe}"
                problems += probe_problems(get["path"], port, metrics_port, where)
    return problems


def test_probes_ask_paths_the_app_serves() -> None:
    assert all(serves(path) for path in ("/healthz", "/readyz", "/metrics"))
    assert not serves("/health")
    documents = kubernetes_documents()
    assert kubernetes_probe_problems(documents) == []
    [api] = [d for d in workloads(documents) if d["metadata"]["name"] == "axis-api"]
    [container] = containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    url = re.compile(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)")
    for name, service in compose_file()["services"].items():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        metrics_port = service.get("environment", {}).get("AXIS_WORKER_METRICS_PORT")
        for port, path in url.findall(test):
            metrics = int(metrics_port) if metrics_port else None
            assert probe_problems(path, int(port), metrics, name) == []

    [healthcheck] = [line for line in DOCKERFILE.read_text().splitlines() if "urlopen" in line]
    [(port, path)] = re.findall(r"'AXIS_PORT', '(\d+)'\) \+ '(/\w+)'", healthcheck)
    assert probe_problems(path, int(port), None, "Dockerfile HEALTHCHECK") == []
    [haproxy_check] = re.findall(r"option httpchk GET (\S+)", (COMPOSE / "haproxy.cfg").read_text())
    assert haproxy_check == "/readyz"


def test_a_probe_of_a_path_the_app_does_not_serve_is_caught() -> None:
    documents = copy.deepcopy(kubernetes_documents())
    [api] = [d for d in workloads(documents) if d["metadata"]["name"] == "axis-api"]
    containers(api)[0]["livenessProbe"]["httpGet"]["path"] = "/health"
    assert kubernetes_probe_problems(documents) == [
        f"axis-api livenessProbe: probe of /health on port {DEFAULT_PORT}, which does not serve it"
    ]


def test_ports_are_the_default_port_of_the_settings() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.findall(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE) == [str(DEFAULT_PORT)]
    assert f"AXIS_PORT={DEFAULT_PORT}" in dockerfile

    documents = kubernetes_documents()
    [api] = [d for d in workloads(documents) if d["metadata"]["name"] == "axis-api"]
    [container] = containers(api)
    assert [port["containerPort"] for port in container["ports"]] == [DEFAULT_PORT]
    [service] = of_kind(documents, "Service")
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == container["ports"][0]["name"]

    compose = compose_file()
    api_services = {
        name
        for name, service in compose["services"].items()
        if service.get("command") == ["serve", "--only-api"]
    }
    haproxy = (COMPOSE / "haproxy.cfg").read_text()
    servers = set(re.findall(r"^\s+server \S+ (\S+):(\d+)", haproxy, re.MULTILINE))
    assert servers == {(name, str(DEFAULT_PORT)) for name in api_services}
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert {f"{name}:{DEFAULT_PORT}" for name in api_services} <= targets
    for target in targets:
        host, port_number = target.split(":")
        environment = compose["services"][host]["environment"]
        assert port_number in (str(DEFAULT_PORT), environment.get("AXIS_WORKER_METRICS_PORT"))


def cli_problems(argv: list[str], where: str) -> list[str]:
    """`argv` parsed by the `axis` CLI as it would be at run time (not run)."""
    group = typer.main.get_command(cli)
    assert isinstance(group, typer.core.TyperGroup)
    command = group.commands.get(argv[0]) if argv else None
    if command is None:
        return [f"{where}: {argv} is no command of the axis CLI"]
    try:
        command.make_context(argv[0], list(argv[1:]))
    except typer.TyperException as exc:
        return [f"{where}: {argv}: {exc}"]
    return []


def test_commands_are_commands_of_the_axis_cli() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["axis"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["axis"] == "axis.cli:app"

    compose_commands = [
        (name, service["command"])
        for name, service in compose_axis_services(compose_file()).items()
    ]
    kubernetes_commands = []
    for workload in workloads(kubernetes_documents()):
        for container in containers(workload):
            assert "command" not in container  # the image's ENTRYPOINT, axis
            kubernetes_commands.append((workload["metadata"]["name"], container["args"]))
    for commands in (compose_commands, kubernetes_commands):
        assert [p for where, argv in commands for p in cli_problems(argv, where)] == []
        assert {tuple(argv) for _, argv in commands} == ROLES
    assert cli_problems(["serve", "--only-apis"], "here") == [
        "here: ['serve', '--only-apis']: No such option: --only-apis"
    ]
    assert cli_problems(["audit_writer"], "here") != []


def test_one_image_everywhere() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    image = f"edoc-axis:{version}"
    compose = compose_file()
    assert {service["image"] for service in compose_axis_services(compose).values()} == {image}
    kubernetes_images = {
        container["image"]
        for workload in workloads(kubernetes_documents())
        for container in containers(workload)
    }
    assert kubernetes_images == {image}
    for path in deploy_text_files():
        assert set(IMAGE_NAME.findall(path.read_text())) <= {image}, path


@pytest.mark.parametrize("where", ["compose", "kubernetes"])
def test_kafka_is_replicated_three_times_with_two_in_sync(where: str) -> None:
    if where == "compose":
        compose = compose_file()
        brokers = {
            name: service["environment"]
            for name, service in compose["services"].items()
            if service.get("image", "").startswith("apache/kafka:")
        }
        assert len(brokers) == 3
        for environment in brokers.values():
            assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
            assert environment["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
            assert environment["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
            assert environment["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        settings = compose["services"]["api-1"]["environment"]
        bootstrap = {
            address.split(":")[0] for address in settings["AXIS_KAFKA_BOOTSTRAP"].split(",")
        }
        assert bootstrap == set(brokers)
    else:
        documents = kubernetes_documents()
        [settings] = [d["data"] for d in of_kind(documents, "ConfigMap")]
        [cluster] = of_kind(documents, "Kafka")
        ports = {listener["port"] for listener in cluster["spec"]["kafka"]["listeners"]}
        host, port = settings["AXIS_KAFKA_BOOTSTRAP"].split(":")
        assert host == f"{cluster['metadata']['name']}-kafka-bootstrap" and int(port) in ports
    assert settings["AXIS_KAFKA_REPLICATION_FACTOR"] == "3"


def test_one_audit_writer_at_a_time() -> None:
    """The audit log has one writer: one Compose service, one replica replaced by Recreate
    (a rolling update would run the old and the new side by side)."""
    compose = compose_axis_services(compose_file())
    assert [name for name, s in compose.items() if s["command"] == ["audit-writer"]] == [
        "audit-writer"
    ]
    [writer] = [
        workload
        for workload in workloads(kubernetes_documents())
        if containers(workload)[0]["args"] == ["audit-writer"]
    ]
    assert writer["kind"] == "Deployment" and writer["spec"]["replicas"] == 1
    assert writer["spec"]["strategy"] == {"type": "Recreate"}
