"""The event catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hookline.api.deps import PrincipalDep
from hookline.api.schemas.common import Out
from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE

router = APIRouter(prefix="/webhooks/catalog", tags=["catalog"])


class EventTypeOut(Out):
    type: str
    channel: str
    description: str
    example: dict[str, Any]
    subscribable: bool


class CatalogOut(Out):
    event_types: list[EventTypeOut]


@router.get("", operation_id="get_catalog")
async def get_catalog(_: PrincipalDep) -> CatalogOut:
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
