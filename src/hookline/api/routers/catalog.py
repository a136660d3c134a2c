"""The event catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from hookline.api.deps import PrincipalDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.common import Out, enum
from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE

router = APIRouter(prefix=API_PREFIX + "/webhooks/catalog", tags=["catalog"])


class EventTypeOut(Out):
    """An event type of the catalog."""

    type: str
    """Its name, e.g. `message.delivered`."""
    channel: str = Field(json_schema_extra=enum("mail", "text", "phone", "operational"))
    """`mail`, `text`, `phone` or `operational`."""
    description: str
    """What it means."""
    example: dict[str, Any]
    """An example of its `data`; test sends deliver it."""
    subscribable: bool
    """Whether a subscription may name it."""


class CatalogOut(Out):
    """The event catalog."""

    event_types: list[EventTypeOut]
    """Every event type."""


@router.get("", operation_id="get_catalog", responses=errors(401))
async def get_catalog(_: PrincipalDep) -> CatalogOut:
    """Every event type Hookline knows, with its description and the example payload test sends
    deliver. `subscribable` is false for types no subscription may name (`phone.incoming_call`
    is answered synchronously instead)."""
    return CatalogOut(
        event_types=[
            EventTypeOut(
                type=t.name,
                channel=t.channel,
                description=t.description,
                example=dict(t.example),
                subscribable=t.name not in NOT_SUBSCRIBABLE,
            )
            for t in CATALOG.values()
        ]
    )
