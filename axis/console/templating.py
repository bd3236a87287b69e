"""Rendering a console page: Jinja2 templates from `templates/` with what every page needs
(the translator, the session, the navigation, versioned asset URLs)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from axis.console import i18n
from axis.console.assets import asset_url
from axis.console.navigation import navigation
from axis.console.sessions import SignedIn

SIGNED_IN = "axis.console.signed_in"
"""The scope key under which the console's front door leaves the request's session."""


@pass_context
def csrf_field(context: Context) -> Markup:
    """The hidden field every POST form of a signed-in page carries: `{{ csrf_field() }}`."""
    session: SignedIn = context["session"]
    return Markup('<input type="hidden" name="csrf" value="{}">').format(escape(session.csrf_token))


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["asset_url"] = asset_url
templates.env.globals["csrf_field"] = csrf_field
templates.env.filters["timestamp"] = lambda unix: datetime.fromtimestamp(unix, UTC).strftime(
    "%Y-%m-%d %H:%M:%S UTC"
)


def signed_in(request: Request) -> SignedIn | None:
    found = request.scope.get(SIGNED_IN)
    return found if isinstance(found, SignedIn) else None


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """`template` in the request's language, for its session (if any)."""
    lang = i18n.language(request)
    session = signed_in(request)
    base: dict[str, Any] = {
        "lang": lang,
        "other_lang": "en" if lang == "vi" else "vi",
        "t": i18n.translator(lang),
        "session": session,
        "nav": navigation(request, session.principal.role) if session else [],
    }
    response = templates.TemplateResponse(
        request, template, base | (context or {}), status_code=status_code, headers=headers
    )
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def refusal(
    request: Request,
    status_code: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **values: object,
) -> HTMLResponse:
    """A page that says clearly why the request was refused (i18n keys and their values)."""
    context = {"title_key": title, "detail_key": detail, "values": values}
    return render(request, "refusal.html", context, status_code=status_code, headers=headers)
