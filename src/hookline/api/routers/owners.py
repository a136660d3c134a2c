"""The owner registry: identities, mailboxes, phone numbers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from hookline.api.deps import Offset, PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.owners import (
    IdentityCreate,
    IdentityList,
    IdentityOut,
    MailboxCreate,
    MailboxList,
    MailboxOut,
    MailboxUpdate,
    MailboxUpdated,
    PhoneNumberCreate,
    PhoneNumberList,
    PhoneNumberOut,
    PhoneNumberUpdate,
)

router = APIRouter(prefix=API_PREFIX, tags=["owners"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post(
    "/identities",
    status_code=201,
    operation_id="create_identity",
    responses=errors(401, 403, 409, 413, 422),
)
async def create_identity(
    body: IdentityCreate, principal: PrincipalDep, services: ServicesDep
) -> IdentityOut:
    """Register an identity (an agent or user that owns channels) by its unique `agent_handle`
    (admin key). A taken handle is 409."""
    return IdentityOut.of(await services.owners.create_identity(principal, body.agent_handle))


@router.get("/identities", operation_id="list_identities", responses=errors(401, 422))
async def list_identities(
    principal: PrincipalDep, services: ServicesDep, limit: Limit = 100, offset: Offset = 0
) -> IdentityList:
    """The identities this key may see (an agent key: its own)."""
    found = await services.owners.list_identities(principal, limit, offset)
    return IdentityList(
        identities=[IdentityOut.of(i) for i in found.items], has_more=found.has_more
    )


@router.get("/identities/{agent_handle}", operation_id="get_identity", responses=errors(401, 404))
async def get_identity(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> IdentityOut:
    """One identity, by its handle."""
    return IdentityOut.of(await services.owners.identity(principal, agent_handle))


@router.delete(
    "/identities/{agent_handle}",
    status_code=204,
    operation_id="delete_identity",
    responses=errors(401, 403, 404, 409),
)
async def delete_identity(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Delete an identity (admin key). 409 while mailboxes, phone numbers, subscriptions or API
    keys still refer to it."""
    await services.owners.delete_identity(principal, agent_handle)
    return Response(status_code=204)


@router.post(
    "/mail/mailboxes",
    status_code=201,
    operation_id="create_mailbox",
    responses=errors(401, 403, 409, 413, 422),
)
async def create_mailbox(
    body: MailboxCreate, principal: PrincipalDep, services: ServicesDep
) -> MailboxOut:
    """Register a mailbox by its unique email address, optionally owned by an identity (admin
    key). A taken address is 409."""
    return MailboxOut.of(
        await services.owners.create_mailbox(principal, body.email_address, body.agent_handle)
    )


@router.get("/mail/mailboxes", operation_id="list_mailboxes", responses=errors(401, 422))
async def list_mailboxes(
    principal: PrincipalDep, services: ServicesDep, limit: Limit = 100, offset: Offset = 0
) -> MailboxList:
    """The mailboxes this key may see."""
    found = await services.owners.list_mailboxes(principal, limit, offset)
    return MailboxList(mailboxes=[MailboxOut.of(m) for m in found.items], has_more=found.has_more)


@router.get(
    "/mail/mailboxes/{email_address}", operation_id="get_mailbox", responses=errors(401, 404)
)
async def get_mailbox(
    email_address: str, principal: PrincipalDep, services: ServicesDep
) -> MailboxOut:
    """One mailbox, by its email address."""
    return MailboxOut.of(await services.owners.mailbox(principal, email_address))


@router.post(
    "/phone/numbers",
    status_code=201,
    operation_id="create_phone_number",
    responses=errors(401, 403, 409, 413, 422),
)
async def create_phone_number(
    body: PhoneNumberCreate, principal: PrincipalDep, services: ServicesDep
) -> PhoneNumberOut:
    """Register a phone number by its unique E.164 `number`, optionally owned by an identity
    (admin key). It starts with `incoming_call_action: auto_reject`. A taken number is 409."""
    return PhoneNumberOut.of(
        await services.owners.create_phone_number(principal, body.number, body.agent_handle)
    )


@router.get("/phone/numbers", operation_id="list_phone_numbers", responses=errors(401, 422))
async def list_phone_numbers(
    principal: PrincipalDep, services: ServicesDep, limit: Limit = 100, offset: Offset = 0
) -> PhoneNumberList:
    """The phone numbers this key may see."""
    found = await services.owners.list_phone_numbers(principal, limit, offset)
    return PhoneNumberList(
        phone_numbers=[PhoneNumberOut.of(p) for p in found.items], has_more=found.has_more
    )


@router.get(
    "/phone/numbers/{number_id}", operation_id="get_phone_number", responses=errors(401, 404)
)
async def get_phone_number(
    number_id: str, principal: PrincipalDep, services: ServicesDep
) -> PhoneNumberOut:
    """One phone number, by its id."""
    return PhoneNumberOut.of(await services.owners.phone_number(principal, number_id))


@router.patch(
    "/mail/mailboxes/{email_address}",
    operation_id="update_mailbox",
    responses=errors(401, 404, 413, 422),
)
async def update_mailbox(
    email_address: str, body: MailboxUpdate, principal: PrincipalDep, services: ServicesDep
) -> MailboxUpdated:
    """Set the mailbox's all-events ``webhook_url``; ``null`` stops delivery at once."""
    result = await services.mailbox_webhooks.set_url(principal, email_address, body.webhook_url)
    return MailboxUpdated(
        **MailboxOut.of(result.mailbox).model_dump(), signing_key=result.signing_key
    )


@router.patch(
    "/phone/numbers/{number_id}",
    operation_id="update_phone_number",
    responses=errors(401, 404, 413, 422),
)
async def update_phone_number(
    number_id: str, body: PhoneNumberUpdate, principal: PrincipalDep, services: ServicesDep
) -> PhoneNumberOut:
    """Set how incoming calls are answered: `incoming_call_action` (`auto_accept`, `auto_reject`
    or `webhook`) and the `incoming_call_webhook_url` asked when it is `webhook`."""
    changes = body.model_dump(exclude_unset=True)
    return PhoneNumberOut.of(await services.calls.configure(principal, number_id, changes))


@router.post(
    "/phone/numbers/{number_id}/incoming-call",
    operation_id="incoming_call",
    responses=errors(401, 403, 404, 413, 422),
)
async def incoming_call(
    number_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    call: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Ask the number's webhook what to do with a call, within the configured bound."""
    decision = await services.calls.incoming(principal, number_id, call)
    out: dict[str, Any] = {**decision.extra, "action": decision.action, "source": decision.source}
    if decision.reason is not None:
        out["reason"] = decision.reason
    return out
