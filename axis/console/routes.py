"""Mount the console under `/ui/`: its static files and its pages' routers.

Adding a page: a module in `pages/` with a router of `ConsoleRoute`s whose handlers declare
who may open them (`dependencies=[Depends(require(Role.OPERATOR))]`) and `render` a template
in `templates/` that extends `base.html`; its words in both languages of `i18n.py`; its
entry in `navigation.py` (route name, i18n key, roles); its router in `PAGES` below. A form
that posts carries `{{ csrf_field() }}`; the console's front door checks it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from axis.console.assets import STATIC_PATH, static_files
from axis.console.pages import agencies, audit, deliveries, home, overview, registry, sign_in

PAGES: tuple[APIRouter, ...] = (
    sign_in.router,
    home.router,
    overview.router,
    agencies.router,
    deliveries.router,
    registry.router,
    audit.router,
)


def install_console(app: FastAPI) -> None:
    app.mount(STATIC_PATH, static_files(), name="console-static")
    for router in PAGES:
        app.include_router(router)
