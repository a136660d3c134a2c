"""The templates (Jinja2, one per page, a shared base and macros) and how views answer."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from hookline import __version__
from hookline.core.timefmt import iso_from_ms

ROOT = "/console"

#: the left-hand menu: label, path under ROOT, and whether only admins see it
MENU = (
    ("Webhooks", "/webhooks", False),
    ("Events", "/events", False),
    ("Catalog", "/catalog", False),
    ("Owners", "/owners", False),
    ("API keys", "/api-keys", False),
    ("Signing keys", "/signing-keys", False),
    ("Users", "/users", True),
)
#: the menu's pages a portal link's session sees: its owner's webhooks, and the catalog
PORTAL_MENU = ("/webhooks", "/catalog")


def _static(name: str) -> str:
    # the version in the query: a new release's files are fetched anew, not from cache
    return f"{ROOT}/static/{name}?v={__version__}"


def _when(ms: int | None) -> str:
    return iso_from_ms(ms) if ms is not None else ""


_env = Environment(
    loader=PackageLoader("hookline.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(static=_static, root=ROOT, menu=MENU, portal_menu=PORTAL_MENU)
_env.filters["when"] = _when


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page ``template`` filled with ``context`` (``visit``: the signed-in user, if any)."""
    context.setdefault("visit", None)
    context["request"] = request
    html = _env.get_template(template).render(context)
    return HTMLResponse(html, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """After a form's POST: see the result with a GET (303), under ROOT."""
    return RedirectResponse(ROOT + path, status_code=303)
