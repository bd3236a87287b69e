"""Prometheus metrics, scraped at `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from axis.api.front_door import FrontDoorRoute

router = APIRouter(tags=["health"], route_class=FrontDoorRoute)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Every metric of this process in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
