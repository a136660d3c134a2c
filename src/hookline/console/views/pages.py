"""The menu's other pages: the catalog, the users (admins), and those still to come."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.forms import event_groups
from hookline.console.render import redirect, render
from hookline.console.visit import View, Visit, refuse, services_of


async def home(request: Request, visit: Visit) -> Response:
    del request, visit
    return redirect("/webhooks")


async def catalog(request: Request, visit: Visit) -> Response:
    return render(request, "catalog.html", visit=visit, groups=event_groups())


async def users(request: Request, visit: Visit) -> Response:
    if not visit.is_admin:
        return refuse(request, visit, "Only admins see the users.", 403)
    listed = await services_of(request).users.list()
    return render(request, "users.html", visit=visit, users=listed)


def coming(title: str) -> View:
    """A page of the menu not built yet: it says so rather than answering 404."""

    async def view(request: Request, visit: Visit) -> Response:
        return render(request, "coming.html", visit=visit, title=title)

    return view
