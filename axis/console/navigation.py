"""The console's navigation: one entry per page, shown to the roles that may open it.

An entry names its page's route (`name=` on the router's decorator) and its i18n key; the
layout shows it once that route is mounted, so an entry can be declared before its page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.routing import NoMatchFound

from axis.storage.models import Role

OPERATOR = frozenset({Role.OPERATOR})
AUDIT = frozenset({Role.OPERATOR, Role.AUDITOR})
AGENCY = frozenset({Role.AGENCY})


@dataclass(frozen=True)
class NavEntry:
    route: str
    label: str
    """The i18n key of its text."""
    roles: frozenset[Role]


NAVIGATION = (
    NavEntry("overview", "nav_overview", OPERATOR),
    NavEntry("agencies", "nav_agencies", OPERATOR),
    NavEntry("deliveries", "nav_deliveries", OPERATOR),
    NavEntry("dead_letters", "nav_dead_letters", OPERATOR),
    NavEntry("registry", "nav_registry", OPERATOR),
    NavEntry("audit", "nav_audit", AUDIT),
    NavEntry("documents", "nav_documents", AGENCY),
)


def navigation(request: Request, role: Role) -> list[tuple[str, str]]:
    """(URL, i18n key) of every mounted page `role` may open."""
    links = []
    for entry in NAVIGATION:
        if role not in entry.roles:
            continue
        try:
            links.append((str(request.app.url_path_for(entry.route)), entry.label))
        except NoMatchFound:
            continue  # declared, not built yet
    return links
