"""Owners: identities, mailboxes with their ``webhook_url``, phone numbers with their
incoming-call settings. Who may change what is the owner services' decision."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.forms import form_field, text
from hookline.console.render import redirect, render
from hookline.console.visit import Visit, services_of
from hookline.core.errors import ValidationFailed
from hookline.services.owners import INCOMING_CALL_ACTIONS

PAGE_SIZE = 50
#: identities whose handles the lists show beside the ids they refer to
HANDLES_SHOWN = 1000


def _offset(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "0")
    return min(int(raw), 1_000_000_000) if raw.isdigit() else 0


async def index(request: Request, visit: Visit, **ctx: Any) -> Response:
    owners = services_of(request).owners
    offsets = {k: _offset(request, k) for k in ("identities", "mailboxes", "numbers")}
    identities = await owners.list_identities(visit.principal, PAGE_SIZE, offsets["identities"])
    mailboxes = await owners.list_mailboxes(visit.principal, PAGE_SIZE, offsets["mailboxes"])
    numbers = await owners.list_phone_numbers(visit.principal, PAGE_SIZE, offsets["numbers"])
    known = await owners.list_identities(visit.principal, HANDLES_SHOWN, 0)
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    return render(
        request,
        "owners/index.html",
        visit=visit,
        identities=identities,
        mailboxes=mailboxes,
        numbers=numbers,
        offsets=offsets,
        page_size=PAGE_SIZE,
        handles={i.id: i.agent_handle for i in known.items},
        **ctx,
    )


async def _invalid(request: Request, visit: Visit, exc: ValidationFailed, prefix: str) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    errors = {f"{prefix}_{form_field(exc.field)}": exc.reason}
    return await index(request, visit, errors=errors, values=values, status_code=422)


async def create_identity(request: Request, visit: Visit) -> Response:
    form = await request.form()
    try:
        await services_of(request).owners.create_identity(
            visit.principal, text(form, "identity_agent_handle")
        )
    except ValidationFailed as exc:
        return await _invalid(request, visit, exc, "identity")
    return redirect("/owners")


async def delete_identity_form(request: Request, visit: Visit) -> Response:
    ident = await services_of(request).owners.identity(
        visit.principal, request.path_params["handle"]
    )
    return render(request, "owners/identity_delete.html", visit=visit, identity=ident)


async def delete_identity(request: Request, visit: Visit) -> Response:
    await services_of(request).owners.delete_identity(
        visit.principal, request.path_params["handle"]
    )
    return redirect("/owners")


async def create_mailbox(request: Request, visit: Visit) -> Response:
    form = await request.form()
    try:
        await services_of(request).owners.create_mailbox(
            visit.principal,
            text(form, "mailbox_email_address"),
            text(form, "mailbox_agent_handle") or None,
        )
    except ValidationFailed as exc:
        return await _invalid(request, visit, exc, "mailbox")
    return redirect("/owners")


async def mailbox_form(request: Request, visit: Visit, **ctx: Any) -> Response:
    mailbox = await services_of(request).owners.mailbox(
        visit.principal, request.path_params["address"]
    )
    ctx.setdefault("errors", {})
    ctx.setdefault("webhook_url", mailbox.webhook_url or "")
    return render(request, "owners/mailbox.html", visit=visit, mailbox=mailbox, **ctx)


async def set_mailbox_webhook(request: Request, visit: Visit) -> Response:
    """Set the mailbox's webhook URL; an empty field clears it."""
    form = await request.form()
    url = text(form, "webhook_url") or None
    address = request.path_params["address"]
    try:
        result = await services_of(request).mailbox_webhooks.set_url(visit.principal, address, url)
    except ValidationFailed as exc:
        return await mailbox_form(
            request,
            visit,
            errors={"webhook_url": exc.reason},
            webhook_url=url or "",
            status_code=422,
        )
    if result.signing_key is not None:
        return await mailbox_form(request, visit, signing_key=result.signing_key, saved=True)
    return redirect(f"/owners/mailboxes/{quote(address, safe='@')}?saved=1")


async def create_number(request: Request, visit: Visit) -> Response:
    form = await request.form()
    try:
        await services_of(request).owners.create_phone_number(
            visit.principal,
            text(form, "number_number"),
            text(form, "number_agent_handle") or None,
        )
    except ValidationFailed as exc:
        return await _invalid(request, visit, exc, "number")
    return redirect("/owners")


async def number_form(request: Request, visit: Visit, **ctx: Any) -> Response:
    phone = await services_of(request).owners.phone_number(
        visit.principal, request.path_params["id"]
    )
    ctx.setdefault("errors", {})
    ctx.setdefault(
        "values",
        {
            "incoming_call_action": phone.incoming_call_action,
            "incoming_call_webhook_url": phone.incoming_call_webhook_url or "",
        },
    )
    return render(
        request,
        "owners/number.html",
        visit=visit,
        number=phone,
        actions=INCOMING_CALL_ACTIONS,
        **ctx,
    )


async def configure_number(request: Request, visit: Visit) -> Response:
    form = await request.form()
    values = {
        "incoming_call_action": text(form, "incoming_call_action"),
        "incoming_call_webhook_url": text(form, "incoming_call_webhook_url"),
    }
    changes = {**values, "incoming_call_webhook_url": values["incoming_call_webhook_url"] or None}
    number_id = request.path_params["id"]
    try:
        await services_of(request).calls.configure(visit.principal, number_id, changes)
    except ValidationFailed as exc:
        return await number_form(
            request,
            visit,
            errors={form_field(exc.field): exc.reason},
            values=values,
            status_code=422,
        )
    return redirect(f"/owners/numbers/{number_id}?saved=1")
