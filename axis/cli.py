"""The `axis` command line."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn, TypeVar

import typer
import uvloop
from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.app import configured_identity, create_app, run_audit_writer, run_worker_process
from axis.audit.bundle import BundleRangeError, bundle_lines, bundle_range
from axis.audit.verify import BundleVerifier, Report
from axis.bus import BusError
from axis.bus.factory import create_bus
from axis.bus.topics import ensure_topics
from axis.config import Settings
from axis.credentials import (
    CredentialError,
    create_token,
    list_tokens,
    revoke_token,
    token_event,
)
from axis.demo import DemoError, DemoOptions, run_demo
from axis.events import Event, Origin, publish_events
from axis.logs import configure_logging
from axis.processes import api_process_count, serve_processes
from axis.registry import (
    CertificateRecord,
    RegistryError,
    RegistryRules,
    add_certificate,
    agency_counts,
    agency_events,
    certificate_event,
    directory,
    disable_vdxp,
    enable_vdxp,
    read_agency_file,
    save_agencies,
)
from axis.server import run_server
from axis.storage.database import create_engine, create_session_factory, dispose
from axis.storage.database import migrate as migrate_database
from axis.storage.models import Role
from schemas.events import TokenCreated, TokenRevoked

T = TypeVar("T")

app = typer.Typer(help="edoc-axis: the inter-agency e-document axis.", no_args_is_help=True)
tokens = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(tokens, name="tokens")
agencies = typer.Typer(help="Register and list agencies.", no_args_is_help=True)
app.add_typer(agencies, name="agencies")
vdxp = typer.Typer(help="Agencies' access to the VDXP endpoints.", no_args_is_help=True)
agencies.add_typer(vdxp, name="vdxp")


@asynccontextmanager
async def _database() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the configured database, for as long as the block runs."""
    engine = create_engine(Settings().resolved_database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await dispose(engine)


async def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the configured (migrated) database."""
    await migrate_database(Settings().resolved_database_url)
    async with _database() as sessions, sessions.begin() as session:
        return await work(session)


def _cli_origin() -> Origin:
    """Who runs this command (`cli:<user name>`) and on which host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment and no passwd entry
        user = f"uid-{os.getuid()}"
    return Origin(f"cli:{user}", socket.gethostname())


async def _recorded(
    work: Callable[[AsyncSession, Origin], Awaitable[tuple[T, Sequence[Event]]]],
) -> T:
    """Run `work` in one transaction on the configured database and publish the audit
    events it returns on the configured bus before the transaction commits, as the API
    does: a change the bus cannot record is not made (`BusError`)."""
    settings = Settings()

    async def then_publish(session: AsyncSession) -> T:
        result, events = await work(session, _cli_origin())
        await publish_events(bus, events)
        return result

    bus = create_bus(settings)
    try:
        await bus.start()
        try:
            await ensure_topics(bus, settings.bus_partitions)
            return await _in_session(then_publish)
        finally:
            await bus.close()
    except BusError as exc:
        raise BusError(f"{exc} (nothing was changed)") from exc


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: AXIS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: AXIS_PORT).")] = None,
    only_api: Annotated[
        bool, typer.Option("--only-api", help="Run no workers here (run `axis worker`).")
    ] = False,
    workers: Annotated[
        str | None,
        typer.Option(
            help="API processes, plus one for the workers: a number, `auto` (one process per "
            "core in all) or 0 (everything in this one process). Default: AXIS_SERVE_WORKERS."
        ),
    ] = None,
) -> None:
    """Run the axis: the API processes and the workers' process, or all in this one."""
    if workers is None:
        settings = Settings()
    elif workers == "auto" or workers.isdigit():
        settings = Settings(serve_workers="auto" if workers == "auto" else int(workers))
    else:
        _fail(f"--workers takes a number of processes or auto, not {workers!r}")
    configure_logging(settings.log_level)
    host, port = host or settings.host, port or settings.port
    api_processes = api_process_count(settings.serve_workers, background=not only_api)
    if api_processes == 0:
        run_server(create_app(settings, workers=not only_api), settings, host, port)
    else:
        serve_processes(settings, host, port, api_processes, background=not only_api)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the axis and its console.")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="The demo's data dir (kept between runs).")] = Path(
        "./axis-demo"
    ),
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty data dir.")] = False,
    rate: Annotated[
        float, typer.Option(min=0.01, help="Documents the sample agencies send per second.")
    ] = 1.0,
) -> None:
    """Run the axis with a dozen sample agencies sending one another documents, until Ctrl-C."""
    options = DemoOptions(data_dir, port, reset, rate)
    try:
        asyncio.run(run_demo(options, _cli_origin()))
    except DemoError as exc:
        _fail(str(exc))


@app.command()
def worker() -> None:
    """Run the router and the delivery worker without the API (scale out: run several)."""
    settings = Settings()
    configure_logging(settings.log_level)
    uvloop.run(run_worker_process(settings))


@app.command("audit-writer")
def audit_writer() -> None:
    """Run the audit writer alone: appends every event to the audit log (run one)."""
    settings = Settings()
    configure_logging(settings.log_level)
    uvloop.run(run_audit_writer(settings))


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (serve does this too at start)."""
    settings = Settings()
    asyncio.run(migrate_database(settings.resolved_database_url))
    typer.echo(f"database at {settings.resolved_database_url} is up to date")


@app.command()
def settings() -> None:
    """Print the effective settings as JSON (environment, TOML file, defaults)."""
    typer.echo(json.dumps(Settings().model_dump(mode="json"), indent=2))


@tokens.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="agency, operator or auditor.")],
    agency: Annotated[
        str | None, typer.Option(help="Organisation code, for an agency token.")
    ] = None,
    label: Annotated[str, typer.Option(help="What the token is for, shown in listings.")] = "",
) -> None:
    """Create a token and print it once: only its digest is kept."""

    async def create(session: AsyncSession, origin: Origin) -> tuple[tuple[str, str], list[Event]]:
        token, secret = await create_token(session, role, agency, label)
        return (token.id, secret), [token_event(TokenCreated, token, origin)]

    try:
        token_id, secret = asyncio.run(_recorded(create))
    except (CredentialError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"id: {token_id}\ntoken: {secret}\n(store it now: it is not shown again)")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (id, role, agency, label, created, revoked) without their secrets."""
    for token in asyncio.run(_in_session(list_tokens)):
        revoked = token.revoked_at.isoformat() if token.revoked_at else "-"
        typer.echo(
            f"{token.id}  {token.role.value:<8} {token.agency_code or '-':<16} "
            f"created {token.created_at.isoformat()}  revoked {revoked}  {token.label}"
        )


@tokens.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token for good; requests with it get 401 from now on."""

    async def revoke(session: AsyncSession, origin: Origin) -> tuple[None, list[Event]]:
        token = await revoke_token(session, token_id)
        if not session.is_modified(token):  # revoked before: nothing changes now
            return None, []
        return None, [token_event(TokenRevoked, token, origin)]

    try:
        asyncio.run(_recorded(revoke))
    except (CredentialError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"revoked {token_id}")


def _registry_rules() -> RegistryRules:
    """The registry's checks as the configured axis applies them."""
    settings = Settings()
    return RegistryRules.of(settings, configured_identity(settings))


@agencies.command("import")
def agencies_import(path: Path) -> None:
    """Create or update the agencies in a JSON or CSV file, all or none."""

    async def save(session: AsyncSession, origin: Origin) -> tuple[dict[str, int], list[Event]]:
        changes = await save_agencies(session, records, _registry_rules())
        return agency_counts(changes), agency_events(changes, origin)

    try:
        records = read_agency_file(path)
        counts = asyncio.run(_recorded(save))
    except (RegistryError, OSError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"{counts['created']} created, {counts['updated']} updated")


@agencies.command("certificate")
def agencies_certificate(code: str, pem_file: Path) -> None:
    """Register a signing certificate (PEM file) for agency CODE."""

    async def register(session: AsyncSession, origin: Origin) -> tuple[str, list[Event]]:
        certificate = await add_certificate(session, code, record, _registry_rules())
        return certificate.fingerprint_sha256, [certificate_event(certificate, origin)]

    try:
        record = CertificateRecord(pem=pem_file.read_text())
        fingerprint = asyncio.run(_recorded(register))
    except (RegistryError, OSError, ValueError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"registered {fingerprint} for {code}")


@agencies.command("list")
def agencies_list() -> None:
    """The directory: code, level, active or suspended, parent, name."""
    for entry in asyncio.run(_in_session(directory)):
        state = "active" if entry.active else "suspended"
        typer.echo(
            f"{entry.code:<16} {entry.level.value:<9} {state:<9} "
            f"{entry.parent_code or '-':<16} {entry.name}"
        )


@vdxp.command("enable")
def vdxp_enable(
    code: str,
    system_id: Annotated[
        str | None, typer.Option(help="The SDK's systemid (default: the agency's code).")
    ] = None,
) -> None:
    """Enable agency CODE on the VDXP endpoints (again: a new secret); prints the secret once."""

    async def enable(session: AsyncSession, origin: Origin) -> tuple[tuple[str, str], list[Event]]:
        credentials, change = await enable_vdxp(session, code, system_id)
        return (credentials.system_id, credentials.secret), agency_events([change], origin)

    try:
        issued_id, secret = asyncio.run(_recorded(enable))
    except (RegistryError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"systemid: {issued_id}\nsecret: {secret}\n(store it now: it is not shown again)")


@vdxp.command("disable")
def vdxp_disable(code: str) -> None:
    """Refuse agency CODE on the VDXP endpoints from now on."""

    async def disable(session: AsyncSession, origin: Origin) -> tuple[None, list[Event]]:
        return None, agency_events([await disable_vdxp(session, code)], origin)

    try:
        asyncio.run(_recorded(disable))
    except (RegistryError, BusError) as exc:
        _fail(str(exc))
    typer.echo(f"VDXP access of {code} disabled")


audit = typer.Typer(help="The audit log: export bundles and verify them.", no_args_is_help=True)
app.add_typer(audit, name="audit")


class _Progress:
    """A line on stderr every few seconds while a long verification runs."""

    def __init__(self, every_seconds: float = 2.0) -> None:
        self.every = every_seconds
        self.started = self.shown = time.monotonic()

    def __call__(self, entries: int) -> None:
        now = time.monotonic()
        if now - self.shown >= self.every:
            self.shown = now
            rate = entries / (now - self.started)
            typer.echo(f"checked {entries:,} entries ({rate:,.0f}/s)...", err=True)


def _load_certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    try:
        return [x509.load_pem_x509_certificate(path.read_bytes()) for path in paths]
    except (OSError, ValueError) as exc:
        _fail(f"cannot read a certificate: {exc}")


def _print_report(report: Report) -> NoReturn:
    """The outcome in a few lines, and the exit status: 0 verified, 1 not."""
    if report.origin is not None:
        typer.echo(f"log {report.origin}: entries {report.start} to {report.end}")
    typer.echo(
        f"checked {report.entries:,} entries and {report.checkpoints:,} checkpoints; "
        f"proven by signatures up to {report.signed_size:,}"
    )
    if report.timestamps_verified or report.timestamps_unchecked:
        typer.echo(
            f"timestamps: {report.timestamps_verified} verified, "
            f"{report.timestamps_unchecked} not checked (no --tsa-root)"
        )
    if report.unsigned:
        typer.echo(
            f"{report.unsigned} entries after position {report.signed_size - 1} are not "
            "signed by a checkpoint yet"
        )
    if report.finding is not None:
        typer.echo(
            f"FAILED at position {report.finding.position}: {report.finding.reason}", err=True
        )
        raise typer.Exit(1)
    typer.echo("verified")
    raise typer.Exit(0)


async def _verify_store(verifier: BundleVerifier, progress: _Progress) -> Report:
    async with _database() as sessions:
        async with sessions() as session:
            origin = Settings().audit_origin
            span = await bundle_range(session, origin, 0, None, signed_only=False)
        async for line in bundle_lines(sessions, span):
            if not verifier.feed_line(line):
                break
            progress(verifier.entries)
    return verifier.finish()


@audit.command("verify")
def audit_verify(
    bundle: Annotated[
        Path | None, typer.Argument(help="A bundle from GET /v1/audit/export (- for stdin).")
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(
            help="The axis certificate, PEM (default with --database: the configured one)."
        ),
    ] = None,
    tsa_root: Annotated[
        list[Path] | None, typer.Option(help="A trusted TSA root, PEM, to check timestamps.")
    ] = None,
    database: Annotated[
        bool, typer.Option("--database", help="Verify the live store instead of a file.")
    ] = False,
) -> None:
    """Recompute the log's tree, check every checkpoint, timestamp and proof; report the
    first bad position and why. Exit status 0 when it all holds, 1 when not."""
    if (bundle is None) == (not database):
        _fail("give a BUNDLE file or --database, one of the two")
    if certificate is not None:
        [axis_certificate] = _load_certificates([certificate])
    elif database:
        axis_certificate = configured_identity(Settings()).certificate
    else:
        _fail("--certificate is needed to verify a bundle (GET /v1/audit/certificate)")
    verifier = BundleVerifier(
        axis_certificate,
        tsa_roots=_load_certificates(tsa_root or []),
        allow_unsigned_tail=database,
    )
    progress = _Progress()
    if database:
        try:
            report = asyncio.run(_verify_store(verifier, progress))
        except SQLAlchemyError as exc:
            _fail(f"cannot read the audit log: {exc.__cause__ or exc}")
        _print_report(report)
    assert bundle is not None
    try:
        with sys.stdin.buffer if str(bundle) == "-" else bundle.open("rb") as lines:
            for line in lines:
                if not verifier.feed_line(line):
                    break
                progress(verifier.entries)
    except OSError as exc:
        _fail(f"cannot read {bundle}: {exc}")
    _print_report(verifier.finish())


@audit.command("export")
def audit_export(
    output: Annotated[Path, typer.Argument(help="Where to write the bundle (- for stdout).")],
    start: Annotated[int, typer.Option("--from", min=0, help="First position.")] = 0,
    end: Annotated[
        int | None, typer.Option("--to", min=1, help="End position, exclusive (default: all).")
    ] = None,
) -> None:
    """Write a bundle of the configured store's log, as GET /v1/audit/export does."""

    async def write(stream: BinaryIO) -> None:
        async with _database() as sessions:
            async with sessions() as session:
                span = await bundle_range(session, Settings().audit_origin, start, end)
            async for line in bundle_lines(sessions, span):
                stream.write(line)

    try:
        if str(output) == "-":
            asyncio.run(write(sys.stdout.buffer))
            return
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as stream:
                asyncio.run(write(stream))
            partial.replace(output)  # whole or not at all
        finally:
            partial.unlink(missing_ok=True)
    except SQLAlchemyError as exc:
        _fail(f"cannot read the audit log: {exc.__cause__ or exc}")
    except (BundleRangeError, OSError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    app()
