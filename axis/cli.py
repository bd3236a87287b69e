"""The `axis` command line."""

from __future__ import annotations

import asyncio
import json

import typer
import uvicorn

from axis.app import create_app
from axis.config import Settings
from axis.storage.database import migrate as migrate_database

app = typer.Typer(help="edoc-axis: the inter-agency e-document axis.", no_args_is_help=True)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Listen address (default: AXIS_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (default: AXIS_PORT)."),
) -> None:
    """Run the axis: the API and every worker in this one process."""
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
    )


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
