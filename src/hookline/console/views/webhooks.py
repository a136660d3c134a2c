"""Webhooks: the list, the add form, a webhook's page (secret, rotate, enable, delete)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hookline.console import forms
from hookline.console.render import redirect, render
from hookline.console.security import new_token
from hookline.console.views import attempts, webhook_health
from hookline.console.visit import VIEWER_REFUSED, Visit, refuse, services_of
from hookline.core.errors import Conflict, NotFound, ValidationFailed
from hookline.core.profiles import PROFILES
from hookline.services.signing import MAX_GRACE_S
from hookline.storage.records import SubscriptionFilter

PAGE_SIZE = 50
#: the rotate form's choices of how long the old secret keeps signing: (seconds, label)
GRACE_CHOICES = ((0, "none"), (3600, "1 hour"), (86_400, "24 hours"), (MAX_GRACE_S, "7 days"))


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 1_000_000_000) if raw.isdigit() else 0


async def listing(request: Request, visit: Visit) -> Response:
    offset = _offset(request)
    page = await services_of(request).subscriptions.list(
        visit.principal, SubscriptionFilter(), PAGE_SIZE, offset
    )
    return render(
        request,
        "webhooks/list.html",
        visit=visit,
        webhooks=page.items,
        health=await webhook_health.of_list(request, visit, page.items),
        next_offset=offset + PAGE_SIZE if page.has_more else None,
    )


async def _form(request: Request, visit: Visit, **ctx: Any) -> Response:
    """The add form, or with ``webhook`` its edit form (none for a viewer)."""
    if not visit.can_write:
        return refuse(request, visit, VIEWER_REFUSED, 403)
    sub = ctx.pop("webhook", None)
    offered = await webhook_health.offered_domains(request, visit)
    ctx.setdefault("values", forms.webhook_values(sub, offered) if sub else {})
    ctx.setdefault("errors", {})
    if sub is None:
        ctx.update(heading="Add webhook", action="/webhooks/new", cancel="/webhooks")
        # one token per add form: the form sent twice creates one webhook (see create)
        ctx.setdefault("form_token", new_token())
    else:
        page = f"/webhooks/{sub.id}"
        ctx.update(heading=f"Edit {sub.name or 'webhook'}", action=page + "/edit", cancel=page)
    return render(
        request,
        "webhooks/form.html",
        visit=visit,
        groups=forms.event_groups(),
        profiles=PROFILES,
        default_profile=services_of(request).settings.default_profile,
        offered_domains=offered,
        **ctx,
    )


async def new_form(request: Request, visit: Visit) -> Response:
    return await _form(request, visit)


async def create(request: Request, visit: Visit) -> Response:
    form = await request.form()
    subscriptions = services_of(request).subscriptions
    token = forms.text(form, "form_token")
    sub_id = forms.once_id(visit.csrf, token) if token else None
    if sub_id is not None:
        try:  # this form was sent before (a double click, a reload): show what it made
            await subscriptions.get(visit.principal, sub_id)
            return redirect(f"/webhooks/{sub_id}")
        except NotFound:
            pass
    try:
        created = await subscriptions.create(
            visit.principal, forms.webhook_input(form, visit.principal, sub_id)
        )
    except ValidationFailed as exc:
        return await _form(
            request,
            visit,
            values=forms.submitted_values(form),
            errors={forms.form_field(exc.field): exc.reason},
            form_token=token or new_token(),
            status_code=422,
        )
    except Conflict:
        if sub_id is None:
            raise
        # the same form, sent twice at once: the other request created it
        return redirect(f"/webhooks/{sub_id}")
    return redirect(f"/webhooks/{created.subscription.id}")


async def edit_form(request: Request, visit: Visit) -> Response:
    sub = await services_of(request).subscriptions.get(visit.principal, request.path_params["id"])
    return await _form(request, visit, webhook=sub)


async def edit(request: Request, visit: Visit) -> Response:
    form = await request.form()
    subscriptions = services_of(request).subscriptions
    sub_id = request.path_params["id"]
    try:
        await subscriptions.update(visit.principal, sub_id, forms.webhook_changes(form))
    except ValidationFailed as exc:
        return await _form(
            request,
            visit,
            webhook=await subscriptions.get(visit.principal, sub_id),
            values=forms.submitted_values(form),
            errors={forms.form_field(exc.field): exc.reason},
            status_code=422,
        )
    return redirect(f"/webhooks/{sub_id}")


async def detail(request: Request, visit: Visit, **ctx: Any) -> Response:
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    if request.query_params.get("reveal") and "secret" not in ctx:
        ctx["secret"] = await services.signing.read_secret(sub)
    ctx = {**await webhook_health.of_detail(request, visit, sub), **ctx}
    return render(
        request,
        "webhooks/detail.html",
        visit=visit,
        webhook=sub,
        grace_choices=GRACE_CHOICES,
        log=await attempts.log_of(request, visit, sub),
        outcomes=attempts.OUTCOMES,
        **ctx,
    )


async def secret(request: Request, visit: Visit) -> Response:
    """The revealed secret, as the fragment htmx swaps into the webhook's page."""
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    value = await services.signing.read_secret(sub)
    return render(request, "webhooks/_secret.html", visit=visit, webhook=sub, secret=value)


async def rotate(request: Request, visit: Visit) -> Response:
    form = await request.form()
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    raw = forms.text(form, "grace_period_s")
    grace = int(raw) if raw.isdigit() else 0
    value = await services.signing.rotate_secret(sub, grace)
    return await detail(request, visit, secret=value, rotated_with_grace_s=grace)


async def enable(request: Request, visit: Visit) -> Response:
    await services_of(request).subscriptions.update(
        visit.principal, request.path_params["id"], {"enabled": True}
    )
    return redirect(f"/webhooks/{request.path_params['id']}")


async def disable(request: Request, visit: Visit) -> Response:
    await services_of(request).subscriptions.update(
        visit.principal, request.path_params["id"], {"enabled": False}
    )
    return redirect(f"/webhooks/{request.path_params['id']}")


async def delete_form(request: Request, visit: Visit) -> Response:
    sub = await services_of(request).subscriptions.get(visit.principal, request.path_params["id"])
    if not visit.can_write:
        return refuse(request, visit, VIEWER_REFUSED, 403)
    return render(request, "webhooks/delete.html", visit=visit, webhook=sub)


async def delete(request: Request, visit: Visit) -> Response:
    await services_of(request).subscriptions.delete(visit.principal, request.path_params["id"])
    return redirect("/webhooks")
