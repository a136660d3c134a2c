"""The menu's simple pages: home (to the webhooks) and the catalog."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.forms import event_groups
from hookline.console.render import redirect, render
from hookline.console.visit import Visit


async def home(request: Request, visit: Visit) -> Response:
    del request, visit
    return redirect("/webhooks")


async def catalog(request: Request, visit: Visit) -> Response:
    return render(request, "catalog.html", visit=visit, groups=event_groups())
