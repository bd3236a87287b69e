"""deploy/compose/haproxy.cfg is a valid HAProxy config, and deploy/haproxy/launcher.py derives
from it a valid loopback config that differs only in addresses and the checks' timing: the
health check, retries, timeouts and refused paths the tests run behind are the operators'."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import ModuleType

COMPOSE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "haproxy.cfg"
REPLACED = (
    r"bind :\d+",
    r"resolvers \S+",
    r"nameserver ",
    r"hold ",
    r"default-server ",
    r"server ",
)
"""What the launcher rewrites: Compose's listener, Docker's DNS and the servers by name."""
ADDED = (
    r"bind 127\.0\.0\.1:\d+",
    r"stats socket ipv4@127\.0\.0\.1:\d+ level admin",
    r"timeout check \S+",
    r"default-server check inter \d+ms fall 2 rise 1",
    r"server api-\d 127\.0\.0\.1:\d+",
)


def rendered(launcher: ModuleType) -> str:
    text: str = launcher.render_config(
        COMPOSE_CONFIG.read_text(),
        port=18080,
        admin_port=18081,
        backends=["127.0.0.1:18082", "127.0.0.1:18083"],
    )
    return text


def directives(text: str) -> set[str]:
    """The config's lines without indentation, comments and blank lines."""
    lines = (line.strip() for line in text.splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def haproxy_check(config: Path) -> None:
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_configs_are_valid_haproxy(haproxy_launcher: ModuleType, tmp_path: Path) -> None:
    haproxy_check(COMPOSE_CONFIG)
    local = tmp_path / "haproxy.cfg"
    local.write_text(rendered(haproxy_launcher))
    haproxy_check(local)


def test_the_local_config_changes_only_addresses_and_check_timing(
    haproxy_launcher: ModuleType,
) -> None:
    compose = directives(COMPOSE_CONFIG.read_text())
    local = directives(rendered(haproxy_launcher))
    dropped, added = compose - local, local - compose
    assert all(any(re.match(p, line) for p in REPLACED) for line in dropped), dropped
    assert all(any(re.fullmatch(p, line) for p in ADDED) for line in added), added
    assert "option httpchk GET /readyz" in local
    assert "http-check expect status 200" in local
    assert "retry-on conn-failure" in local
