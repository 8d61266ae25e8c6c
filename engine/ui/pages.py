"""The web UI's routes: one HTML shell for every page (its script draws the page from the REST API, so reads and
writes go through the same query and service code as every other client), the login form, and the static assets
shipped in the package. Pages sit behind the PAGE rule: a browser without a session is sent to the login form."""

from __future__ import annotations

import hashlib
import html
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from engine.access.permissions import Principal
from engine.api.security import PAGE, PUBLIC, LoginRequired

STATIC = Path(str(resources.files("engine.ui") / "static"))
TEMPLATES = resources.files("engine.ui") / "templates"
# every page's URL; the script routes on the path, so each is a link that can be shared and reloaded
PAGES = ("/executions", "/executions/{execution_id}", "/projects", "/projects/{project}",
         "/projects/{project}/flows/{flow}", "/flows", "/flows/{flow}", "/schedules", "/schedules/{schedule_id}",
         "/workers", "/dead-letters")
# the script and styles are files of ours: nothing inline, nothing from elsewhere, no framing by another site
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(PAGE)]


@cache
def asset_version() -> str:
    """A digest of the assets, in their URLs: a browser never runs a script older than the page it was given."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def render(name: str, **values: str) -> HTMLResponse:
    text = template(name).replace("{{asset}}", asset_version())
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, headers=HEADERS)


async def page(request: Request, principal: Viewer) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    return render("shell.html", user=principal.name, csrf=session.csrf if session is not None else "",
                  via=principal.via)


for path in PAGES:
    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


@router.get("/", response_class=RedirectResponse)
def home(principal: Viewer) -> RedirectResponse:
    return RedirectResponse("/executions", status_code=303)


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(PUBLIC)])
def login_form(next_page: str = Query("/executions", alias="next", max_length=2000)) -> HTMLResponse:
    return render("login.html", next=next_page)


def mount(app: FastAPI) -> None:
    """The pages, the assets, and the redirect of a page asked for without an identity."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.back_to, safe='/')}", status_code=303)
