"""``/docs`` (Swagger UI) and ``/redoc`` served entirely by the service: no CDN, so they work
on a machine without internet access.

The assets (Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon) come from the
``fastapi-offline`` package (PyPI; in rung's ``serve`` extra), served under ``/docs/assets``;
the pages are FastAPI's own, pointed at them — FastAPI's documented recipe "Self-hosting
JavaScript and CSS for docs" (https://fastapi.tiangolo.com/how-to/custom-docs-ui-assets/).
Swagger UI's online validator is off (it would call validator.swagger.io).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
"""Where the pages' JavaScript, CSS and favicon are served."""


def assets_dir() -> Path:
    """The directory of the packaged assets (``fastapi_offline/static``)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, its OAuth2 redirect page, ``/redoc`` and the assets to ``app`` (made with
    ``docs_url=None, redoc_url=None``); none of them is in the OpenAPI document."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    redirect = "/docs/oauth2-redirect"

    def root(request: Request) -> str:
        return str(request.scope.get("root_path") or "")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{ASSETS}/favicon.png",
            oauth2_redirect_url=base + redirect,
            swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None},
        )

    @app.get(redirect, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
