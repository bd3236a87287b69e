"""The agencies at a glance (`health.py`), filtered and sorted on the server, and one
agency's page: its registration, its health, the documents it sent and its deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from axis.api.auth import require
from axis.console.delivery_search import DeliveryFilter, search
from axis.console.front_door import ConsoleRoute, operator_origin
from axis.console.health import AgencyHealth, agencies_health
from axis.console.jobs import Jobs
from axis.console.pings import PingContext, PingJob, start_ping
from axis.console.templating import refusal, render
from axis.registry import agency_view
from axis.storage.models import Agency, Document, Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
operator = [Depends(require(Role.OPERATOR))]
RECENT = 20
_NEVER = datetime.min.isoformat()
SORTS: dict[str, Callable[[AgencyHealth], Any]] = {
    "code": lambda h: h.code,
    "name": lambda h: h.name.casefold(),
    "last_delivered": lambda h: h.last_delivered.isoformat() if h.last_delivered else _NEVER,
    "retrying": lambda h: -h.retrying,
    "dead": lambda h: -h.dead,
    "overdue": lambda h: -h.overdue,
    "certificate_days": lambda h: -1 if h.certificate_days is None else h.certificate_days,
}
"""Each column's order: worst first for the counts and the certificate."""


@router.get("/ui/agencies", name="agencies", dependencies=operator)
async def agencies(
    request: Request, q: str = "", troubled: str = "", sort: str = "code"
) -> Response:
    """Every agency's health; `q` filters by code or name, `troubled` keeps those with a
    problem, `sort` names a column (fields as a form sends them: a bad one is no filter)."""
    overdue_seconds = request.app.state.settings.inbox_ack_overdue_seconds
    async with request.app.state.readers() as session:
        found = await agencies_health(session, overdue_seconds)
    needle = q.strip().casefold()
    shown = [
        health
        for health in found
        if (not needle or needle in health.code.casefold() or needle in health.name.casefold())
        and (not troubled or health.troubled)
    ]
    shown.sort(key=SORTS.get(sort, SORTS["code"]))
    context = {"agencies": shown, "q": q, "troubled": bool(troubled), "sort": sort, "sorts": SORTS}
    return render(request, "agencies.html", context)


@router.get("/ui/agencies/{code}", name="agency", dependencies=operator)
async def agency(request: Request, code: str) -> Response:
    overdue_seconds = request.app.state.settings.inbox_ack_overdue_seconds
    async with request.app.state.readers() as session:
        row = await session.get(Agency, code[:64])
        if row is None:
            return refusal(request, 404, "not_found_title", "agency_not_found")
        [health] = await agencies_health(session, overdue_seconds, row.code)
        sent = await session.scalars(
            select(Document)
            .where(Document.sender_code == row.code)
            .order_by(Document.received_at.desc())
            .limit(RECENT)
        )
        deliveries = await search(session, DeliveryFilter(agency=row.code), None, RECENT)
        context = {
            "agency": agency_view(row),
            "health": health,
            "sent": list(sent),
            "page": deliveries,
            "next_link": None,
            "first_link": None,
        }
    return render(request, "agency.html", context)


@router.post("/ui/agencies/{code}/ping", name="ping_agency", dependencies=operator)
async def ping_agency(request: Request, code: str) -> Response:
    """Send a test delivery through the agency's adapter; its page shows the outcome."""
    async with request.app.state.readers() as session:
        row = await session.get(Agency, code[:64])
    if row is None:
        return refusal(request, 404, "not_found_title", "agency_not_found")
    state = request.app.state
    context = PingContext(state.settings, state.ingest.identity, state.blobs, state.bus)
    job = start_ping(state.jobs, context, operator_origin(request), row.code, row.delivery)
    target = request.app.url_path_for("agency_ping", code=row.code, job_id=job.id)
    return RedirectResponse(target, status_code=303)


@router.get("/ui/agencies/{code}/pings/{job_id}", name="agency_ping", dependencies=operator)
async def agency_ping(request: Request, code: str, job_id: str, fragment: bool = False) -> Response:
    """A test delivery: waiting, then its outcome (htmx polls `fragment`)."""
    jobs: Jobs = request.app.state.jobs
    job = jobs.get(job_id, PingJob)
    if job is None or job.agency_code != code:
        return refusal(request, 404, "not_found_title", "job_not_found")
    return render(request, "ping_result.html" if fragment else "ping.html", {"job": job})
