"""Pages for people, served by the gateway itself with no asset from another host: the
dashboard (`/ui`, static files checked in under `slipway_gateway/ui`) and the API
reference (`/docs`, Swagger UI from the `swagger-ui-bundle-v2` package). Both are open:
the dashboard asks for a token and sends it only to `/api`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
UI_PATH = "/ui"
DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"
# The dashboard talks to its own origin only: no script, style, image or connection
# elsewhere, and no inline script.
UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class DashboardFiles(StaticFiles):
    """The dashboard's files, with its content policy and revalidated on every load (a
    gateway upgrade must not leave a browser running the old modules)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = UI_POLICY
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    """Mount the dashboard and the API reference (the app is made with `docs_url=None`
    and `redoc_url=None`, so FastAPI's CDN-loading pages are not there)."""
    app.add_api_route(UI_PATH, to_dashboard, methods=["GET"], include_in_schema=False)
    app.mount(UI_PATH, DashboardFiles(directory=UI_DIR, html=True), name="ui")
    app.add_api_route(DOCS_PATH, api_reference, methods=["GET"], include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")


async def to_dashboard() -> RedirectResponse:
    return RedirectResponse(UI_PATH + "/", status_code=308)


async def api_reference(request: Request) -> HTMLResponse:
    """Swagger UI on the API document, every asset from this gateway."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + str(request.app.openapi_url),
        title=f"{request.app.title} - API reference",
        swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        # No validator badge: it would load an image from swagger.io.
        swagger_ui_parameters={"persistAuthorization": False, "validatorUrl": None},
    )
