"""The operator's overview: traffic, latency, consumer lag, the audit writer, dead letters.

The first render shows the latest sample's numbers (no JavaScript needed) and an hour of
history for the charts; `/ui/overview/events` then streams every new sample (`live.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response, StreamingResponse

from axis.api.auth import require
from axis.config import Settings
from axis.console import i18n
from axis.console.figures import GROUPS, Sample
from axis.console.front_door import ConsoleRoute
from axis.console.live import Live, sample_json
from axis.console.templating import render, templates
from axis.storage.models import Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
operator = [Depends(require(Role.OPERATOR))]


def figures_context(sample: Sample, settings: Settings) -> dict[str, Any]:
    return {
        "sample": sample,
        "groups": [group for group, _ in GROUPS],
        "group_lags": sample.group_lags(),
        "alerts": sample.alerts(settings),
    }


def _figures_html(live: Live, sample: Sample, lang: str, settings: Settings) -> str:
    """The figures panel for a stream, rendered once per sample and language however many
    pages are open."""
    key = ("figures", sample.seq, lang)
    if key not in live.rendered:
        template = templates.get_template("overview_figures.html")
        context = figures_context(sample, settings)
        live.rendered[key] = template.render(t=i18n.translator(lang), **context)
    return live.rendered[key]


@router.get("/ui/overview", name="overview", dependencies=operator)
async def overview(request: Request) -> Response:
    live: Live = request.app.state.live
    sample = await live.current()
    history = "[" + ",".join(sample_json(past) for past in live.samples) + "]"
    history = history.replace("<", "\\u003c")  # it sits in a <script> element
    context = figures_context(sample, request.app.state.settings) | {"history": history}
    return render(request, "overview.html", context)


@router.get("/ui/overview/events", name="overview_events", dependencies=operator)
async def overview_events(
    request: Request,
    after: int = 0,
    last_event_id: Annotated[int | None, Header()] = None,
) -> StreamingResponse:
    """The live stream: samples after `Last-Event-ID` (a reconnect) or `after` (the first
    render's sample)."""
    live: Live = request.app.state.live
    settings: Settings = request.app.state.settings
    lang = i18n.language(request)
    stream = live.stream(
        last_event_id if last_event_id is not None else after,
        lambda sample: _figures_html(live, sample, lang, settings),
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
