"""Customer portal links: one-time URLs into the console, scoped to one owner."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.common import In, Out
from hookline.core.portal import MAX_TTL_S, MIN_TTL_S
from hookline.core.timefmt import iso_from_ms

router = APIRouter(prefix=API_PREFIX + "/portal-links", tags=["portal-links"])
#: where a link opens, under the server's own address
PORTAL_PATH = "/console/portal"


class PortalLinkCreate(In):
    """A portal link for exactly one owner."""

    agent_handle: str | None = None
    """The identity whose webhooks the portal shows."""
    mailbox_id: str | None = None
    """Or one mailbox (it must belong to an identity): only that mailbox's webhooks."""
    phone_number_id: str | None = None
    """Or one phone number (it must belong to an identity): only that number's webhooks."""
    ttl_s: int = Field(3600, ge=MIN_TTL_S, le=MAX_TTL_S)
    """How long the link may be opened, in seconds; it opens once."""


class PortalLinkOut(Out):
    """A new portal link: open it once, for instance in an iframe of your page."""

    url: str
    """The one-time URL: it opens a console session limited to the owner."""
    expires_at: str
    """When the link stops opening, if unused (ISO 8601)."""


@router.post(
    "", status_code=201, operation_id="create_portal_link", responses=errors(401, 403, 413, 422)
)
async def create_portal_link(
    body: PortalLinkCreate, request: Request, principal: PrincipalDep, services: ServicesDep
) -> PortalLinkOut:
    """Make a one-time link into the console for exactly one owner (admin key): whoever opens
    it sees and manages that identity's webhooks (or that mailbox's or number's) and nothing
    else, like an agent user of it. The pages may be framed by the origins of
    `HOOKLINE_PORTAL_FRAME_ANCESTORS`; inside another site's iframe they need HTTPS."""
    link = await services.portal.create_link(
        principal,
        ttl_s=body.ttl_s,
        agent_handle=body.agent_handle,
        mailbox_id=body.mailbox_id,
        phone_number_id=body.phone_number_id,
    )
    base = str(request.base_url).rstrip("/")
    return PortalLinkOut(
        url=f"{base}{PORTAL_PATH}?token={link.token}", expires_at=iso_from_ms(link.expires_at_ms)
    )
