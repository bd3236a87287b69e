"""Deliveries and dead letters: search, one delivery's attempts and errors, replays.

A replay goes through the delivery lifecycle as the API's does, as `operator:<token id>`
(the audit log's `delivery.replayed` names the operator). Replaying one is done in the
request; replaying every dead letter a filter matches is confirmed first (the page says
how many), then runs as a job (`replays.py`) whose page shows its progress: refreshed by
htmx every second, or by the page's own refresh without JavaScript.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from axis.api.auth import require
from axis.console.delivery_search import DeliveryFilter, matching_ids, search, steps
from axis.console.front_door import ConsoleRoute, operator_origin
from axis.console.jobs import Jobs
from axis.console.replays import ReplayJob, start_replay
from axis.console.templating import refusal, render
from axis.delivery.lifecycle import Lifecycle, NotDead
from axis.storage.models import Delivery, DeliveryState, Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
operator = [Depends(require(Role.OPERATOR))]


def _lifecycle(request: Request) -> Lifecycle:
    return Lifecycle(request.app.state.sessions, request.app.state.bus)


async def _search_page(request: Request, found: DeliveryFilter, template: str) -> Response:
    cursor = request.query_params.get("cursor")
    async with request.app.state.readers() as session:
        page = await search(session, found, cursor)
    context = {
        "filter": found,
        "page": page,
        "states": [state.value for state in DeliveryState],
        "next_link": found.query_string(cursor=page.next_cursor) if page.next_cursor else None,
        "first_link": found.query_string() if cursor else None,
    }
    return render(request, template, context, status_code=400 if found.errors else 200)


@router.get("/ui/deliveries", name="deliveries", dependencies=operator)
async def deliveries(request: Request) -> Response:
    return await _search_page(request, DeliveryFilter.of(request.query_params), "deliveries.html")


@router.get("/ui/dead-letters", name="dead_letters", dependencies=operator)
async def dead_letters(request: Request) -> Response:
    found = DeliveryFilter.of(request.query_params).dead()
    return await _search_page(request, found, "dead_letters.html")


@router.get("/ui/deliveries/{delivery_id}", name="delivery", dependencies=operator)
async def delivery(request: Request, delivery_id: str, replayed: bool = False) -> Response:
    async with request.app.state.readers() as session:
        row = await session.get(Delivery, delivery_id[:64])
        if row is None:
            return refusal(request, 404, "not_found_title", "delivery_not_found")
        history = await steps(session, row)
    return render(request, "delivery.html", {"d": row, "steps": history, "replayed": replayed})


@router.post("/ui/deliveries/{delivery_id}/replay", name="replay_one", dependencies=operator)
async def replay_one(request: Request, delivery_id: str) -> Response:
    try:
        await _lifecycle(request).replay(
            actor=operator_origin(request).actor, delivery_ids=[delivery_id[:64]]
        )
    except NotDead:
        return refusal(request, 409, "not_dead_title", "not_dead_detail")
    target = request.app.url_path_for("delivery", delivery_id=delivery_id)
    return RedirectResponse(f"{target}?replayed=1", status_code=303)


@router.get("/ui/dead-letters/replay", name="confirm_replay", dependencies=operator)
async def confirm_replay(request: Request) -> Response:
    """What a bulk replay would take: how many dead letters the filter matches now."""
    found = DeliveryFilter.of(request.query_params).dead()
    async with request.app.state.readers() as session:
        count = len(await matching_ids(session, found))
    return render(request, "replay_confirm.html", {"filter": found, "count": count})


@router.post("/ui/dead-letters/replay", name="replay_matching", dependencies=operator)
async def replay_matching(
    request: Request,
    document: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    """Start a job replaying every dead letter the filter matches now; go to its page."""
    fields = {"document": document, "agency": agency, "since": since, "until": until}
    found = DeliveryFilter.of(fields).dead()
    if found.errors:
        return refusal(request, 400, "bad_filter_title", "bad_filter_detail")
    async with request.app.state.readers() as session:
        ids = await matching_ids(session, found)
    job = start_replay(
        request.app.state.jobs, _lifecycle(request), operator_origin(request).actor, ids
    )
    target = request.app.url_path_for("replay_job", job_id=job.id)
    return RedirectResponse(target, status_code=303)


@router.get("/ui/dead-letters/jobs/{job_id}", name="replay_job", dependencies=operator)
async def replay_job(request: Request, job_id: str, fragment: bool = False) -> Response:
    """A job's progress: the whole page, or (`fragment`, htmx's poll) its progress alone."""
    jobs: Jobs = request.app.state.jobs
    job = jobs.get(job_id, ReplayJob)
    if job is None:
        return refusal(request, 404, "not_found_title", "job_not_found")
    template = "replay_progress.html" if fragment else "replay_job.html"
    return render(request, template, {"job": job})
