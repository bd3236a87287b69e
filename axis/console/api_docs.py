"""`/docs`, the API's browsable description, with Swagger UI served from the package: the
CDN FastAPI uses by default is out of reach on a closed network, where the page was blank."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

from axis.console.assets import asset_url


def install_api_docs(app: FastAPI) -> None:
    """Serve `/docs` (the app must be made with `docs_url=None`) from vendored assets."""

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=asset_url("vendor/swagger-ui/swagger-ui-bundle.js"),
            swagger_css_url=asset_url("vendor/swagger-ui/swagger-ui.css"),
            swagger_favicon_url=asset_url("vendor/swagger-ui/favicon-32x32.png"),
            swagger_ui_parameters={"validatorUrl": None},  # no call to validator.swagger.io
        )

    app.add_route("/docs", docs, include_in_schema=False)
