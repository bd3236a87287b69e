"""Liveness and readiness probes, for load balancers and orchestrators."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from axis.api.front_door import FrontDoorRoute
from axis.bus import Bus, BusError
from axis.storage.database import ping as ping_database

router = APIRouter(tags=["health"], route_class=FrontDoorRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when both the bus and the database answer now; says which engines they are, and
    in `X-Axis-Process` which process answered (`axis serve --workers N` runs several).
    Not ready once the server is stopping: a load balancer sends it nothing new while it
    finishes what it has (`AXIS_SERVE_DRAIN_SECONDS`)."""
    process = {"X-Axis-Process": str(os.getpid())}
    if request.app.state.stopping.is_set():
        return JSONResponse({"status": "draining"}, status_code=503, headers=process)
    bus: Bus = request.app.state.bus
    engine = request.app.state.database
    checks: dict[str, dict[str, Any]] = {
        "bus": {"engine": bus.engine, "ready": True},
        "database": {"engine": engine.dialect.name, "ready": True},
    }
    try:
        await bus.ping()
    except BusError as exc:
        checks["bus"] |= {"ready": False, "error": str(exc)}
    try:
        await ping_database(engine)
    except Exception as exc:  # any failure to answer means "not ready", never a 500
        checks["database"] |= {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
    ready = all(check["ready"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks},
        status_code=200 if ready else 503,
        headers=process,
    )
