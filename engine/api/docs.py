"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with their scripts and styles served from
the package (engine/api/static/docs, pinned copies: see its README) rather than a CDN, so they work offline and
load nothing from another origin. Like /openapi.json they are public: they show the document, not data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from engine.api.security import PUBLIC

ASSETS = Path(str(resources.files("engine.api") / "static" / "docs"))
ASSETS_URL = "/docs/assets"
TITLE = "Kafkaban API"

router = APIRouter(include_in_schema=False, dependencies=[Depends(PUBLIC)])


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        # Swagger UI's default sends the document to an outside validator for a badge; nothing leaves the server
        swagger_ui_parameters={"validatorUrl": None})


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title=f"{TITLE} - ReDoc",
                          redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSETS_URL}/favicon-32x32.png", with_google_fonts=False)


def mount(app: FastAPI) -> None:
    """The two pages and their assets (create the app with ``docs_url=None, redoc_url=None``: these replace them)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
