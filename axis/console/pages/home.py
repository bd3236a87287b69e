"""The home page: who is signed in, and the pages their role may open."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from axis.api.auth import current_principal
from axis.console.front_door import ConsoleRoute
from axis.console.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/ui/", name="home", dependencies=[Depends(current_principal)])
async def home(request: Request) -> Response:
    return render(request, "home.html")
