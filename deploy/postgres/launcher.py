"""Run a throwaway PostgreSQL cluster on a free loopback port.

Why: the same tests run against SQLite and PostgreSQL, and a fresh CI machine may have no
PostgreSQL at all. Installs it from Debian packages when missing, runs it as the `postgres`
user when we are root (postgres refuses root). Standard library only.

CLI:     python deploy/postgres/launcher.py start|stop|status [--dir DIR]
Library: node = PostgresNode(run_dir); node.start() -> "postgresql+asyncpg://..."; node.stop()
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # deploy/launcher_support.py
from launcher_support import (
    LauncherError,
    apt_install,
    free_ports,
    read_json,
    tail,
    write_json,
)

DATABASE = "axis_test"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
STATE_FILE = "state.json"
POLL_INTERVAL = 0.2
NEEDED = ("initdb", "pg_ctl", "createdb")


# --------------------------------------------------------------------------- binaries


def _version_key(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in path.parent.name.split("."))
    except ValueError:
        return (0,)


def find_bin_dir() -> Path | None:
    """Directory holding initdb/pg_ctl: newest /usr/lib/postgresql/*/bin, else PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if all((bin_dir / name).is_file() for name in NEEDED):
            return bin_dir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        bin_dir = Path(pg_ctl).resolve().parent
        if all((bin_dir / name).is_file() for name in NEEDED):
            return bin_dir
    return None


def ensure_installed() -> Path:
    """Return the binaries' directory, installing Debian's `postgresql` package if needed."""
    found = find_bin_dir()
    if found is not None:
        return found
    apt_install("postgresql", "PostgreSQL (initdb, pg_ctl)")
    found = find_bin_dir()
    if found is None:
        raise LauncherError("installed postgresql but found no initdb/pg_ctl")
    return found


# --------------------------------------------------------------------------- helpers


def _as_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user() -> pwd.struct_passwd:
    """The unprivileged account postgres runs as when we are root (Debian creates it)."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    done = subprocess.run(
        [
            "useradd",
            "--system",
            "--home-dir",
            "/var/lib/postgresql",
            "--shell",
            "/bin/sh",
            SYSTEM_USER,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise LauncherError(f"could not create the {SYSTEM_USER} user", done.stderr)
    return pwd.getpwnam(SYSTEM_USER)


def _can_reach(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may enter `path` (not under pytest's 0700 /tmp/pytest-of-root)."""
    done = subprocess.run(
        ["test", "-x", str(path)],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        capture_output=True,
    )
    return done.returncode == 0


# --------------------------------------------------------------------------- the node


class PostgresNode:
    """One throwaway cluster (trust auth, loopback only, fsync off) kept under run_dir.

    Creating a node on a run_dir that already holds a cluster resumes it on the same port.
    """

    def __init__(self, run_dir: Path | str, *, database: str = DATABASE) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.database = database
        state = self._read_state()
        self.port: int | None = state.get("port")
        self.bin_dir: Path | None = Path(state["bin_dir"]) if state.get("bin_dir") else None

    # ---- paths and state

    @property
    def _link(self) -> Path:
        return self.run_dir / "cluster"

    @property
    def home(self) -> Path:
        """Postgres-owned directory with the data dir and the log.

        run_dir/cluster, or where that symlink points: postgres must never need to walk
        through run_dir, which it may not be allowed to enter.
        """
        return self._link.resolve()

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy async URL."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self._port()}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq/asyncpg URL of the same database."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self._port()}/{self.database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid, when running."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _port(self) -> int:
        if self.port is None:
            raise LauncherError("the cluster has no port yet: start() it first")
        return self.port

    def _read_state(self) -> dict[str, Any]:
        return read_json(self.run_dir / STATE_FILE)

    def _write_state(self) -> None:
        state = {
            "url": self.url,
            "dsn": self.dsn,
            "port": self.port,
            "pid": self.pid,
            "bin_dir": str(self.bin_dir),
            "data_dir": str(self.data_dir),
            "log": str(self.log_path),
        }
        write_json(self.run_dir / STATE_FILE, state)

    # ---- running commands as the right user

    def _run(self, *args: str, check: bool = True, timeout: float = 120.0) -> str:
        assert self.bin_dir is not None
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        kwargs: dict[str, Any] = {}
        env = {**os.environ, "LC_ALL": "C", "PGUSER": SUPERUSER}
        if _as_root():
            user = _ensure_system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            env["HOME"] = user.pw_dir
        try:
            done = subprocess.run(
                cmd,
                cwd=self.home,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise LauncherError(f"`{args[0]}` took longer than {timeout:.0f}s") from exc
        output = f"{done.stdout}{done.stderr}"
        if check and done.returncode != 0:
            raise LauncherError(
                f"`{' '.join(args)}` failed (exit {done.returncode}): {output.strip()[-500:]}",
                tail(self.log_path),
            )
        return output

    def _prepare_home(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not _as_root():
            self._link.mkdir(exist_ok=True)
            return
        user = _ensure_system_user()
        if not self._link.exists() and not self._link.is_symlink():
            if _can_reach(self.run_dir, user):
                self._link.mkdir()
            else:
                # The postgres user cannot enter run_dir: keep the cluster in /tmp instead.
                self._link.symlink_to(tempfile.mkdtemp(prefix="axis-pg-"))
        os.chown(self.home, user.pw_uid, user.pw_gid)

    def _write_config(self) -> None:
        settings = {
            "port": str(self._port()),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            # Throwaway test data: skip fsync (survives process crashes, not OS crashes).
            "fsync": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
        }
        text = "".join(f"{k} = {v}\n" for k, v in settings.items())
        self._run_write(self.data_dir / "axis.conf", text)
        conf = self.data_dir / "postgresql.conf"
        if "include_if_exists = 'axis.conf'" not in conf.read_text():
            self._run_write(conf, conf.read_text() + "\ninclude_if_exists = 'axis.conf'\n")

    def _run_write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if _as_root():
            user = _ensure_system_user()
            os.chown(path, user.pw_uid, user.pw_gid)

    # ---- lifecycle

    def is_running(self) -> bool:
        if self.bin_dir is None or not self.data_dir.is_dir():
            return False
        out = self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False)
        return "server is running" in out

    def start(self, timeout: float = 60.0) -> str:
        """Create the cluster if needed, start it, create the database; returns the URL."""
        self.bin_dir = ensure_installed()
        self._prepare_home()
        if self.is_running():
            return self.url
        fresh = not (self.data_dir / "PG_VERSION").is_file()
        if fresh:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            )
        attempts = 3 if fresh or self.port is None else 1
        for attempt in range(1, attempts + 1):
            if fresh or self.port is None:
                self.port = free_ports(1)[0]
            self._write_config()
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                    timeout=timeout + 10,
                )
                break
            except LauncherError:
                if attempt == attempts or "already in use" not in tail(self.log_path, 10):
                    raise
        self._wait_ready(timeout)
        out = self._run(
            "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            self.database,
            check=False,
        )
        if out.strip() and "already exists" not in out:
            raise LauncherError(f"createdb {self.database} failed: {out.strip()}")
        self._write_state()
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        """Poll pg_isready over TCP until the server accepts connections."""
        deadline = time.monotonic() + timeout
        while True:
            out = self._run(
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                check=False,
            )
            if "accepting connections" in out:
                return
            if time.monotonic() > deadline:
                raise LauncherError(
                    f"PostgreSQL did not accept connections within {timeout:.0f}s",
                    tail(self.log_path),
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float = 60.0, *, remove: bool = False) -> None:
        """`pg_ctl stop -m fast` (SIGKILL if that fails); remove=True deletes the cluster."""
        if self.bin_dir is None:
            self.bin_dir = find_bin_dir()
        if self.bin_dir is not None and self.data_dir.is_dir() and self.is_running():
            pid = self.pid
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "stop",
                    timeout=timeout + 10,
                )
            except LauncherError:
                if pid is None:
                    raise
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if remove:
            target = self.home
            if self._link.is_symlink():
                self._link.unlink()
            shutil.rmtree(target, ignore_errors=True)
            (self.run_dir / STATE_FILE).unlink(missing_ok=True)
        elif self.port is not None:
            self._write_state()

    def restart(self, timeout: float = 60.0) -> str:
        """Stop and start again on the same port and data."""
        self.stop(timeout)
        return self.start(timeout)


# --------------------------------------------------------------------------- CLI


def _default_run_dir() -> Path:
    return Path(tempfile.gettempdir()) / "edoc-axis-postgres"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=_default_run_dir(), help="run directory")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    parser.add_argument("--remove", action="store_true", help="stop: delete the cluster too")
    args = parser.parse_args(argv)
    node = PostgresNode(args.dir)
    try:
        if args.command == "start":
            print(f"url={node.start(args.timeout)}")
            print(f"pid={node.pid}")
            print(f"log={node.log_path}")
        elif args.command == "stop":
            node.stop(args.timeout, remove=args.remove)
            print("stopped")
        else:
            node.bin_dir = node.bin_dir or find_bin_dir()
            running = node.is_running()
            print(f"running={str(running).lower()}")
            if node.port is not None:
                print(f"url={node.url}")
            return 0 if running else 3
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
