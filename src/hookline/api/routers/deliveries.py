"""The delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookline.api.deps import Offset, PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.schemas.events import AttemptList, AttemptOut
from hookline.storage.base import AttemptFilter

router = APIRouter(prefix="/webhooks/deliveries", tags=["deliveries"])


@router.get("", operation_id="list_deliveries", responses=errors(401, 422))
async def list_deliveries(
    principal: PrincipalDep,
    services: ServicesDep,
    subscription_id: str | None = None,
    phone_number_id: str | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    success: bool | None = None,
    # clamped, not refused: the contract says 1-200
    limit: Annotated[int, Query()] = 50,
    offset: Offset = 0,
) -> AttemptList:
    """The attempt log, newest first: one entry per HTTP request Hookline made (and per incoming-
    call callback). Filters combine; `limit` is clamped to 1-200. An agent key sees only its
    identity's."""
    attempts = await services.deliveries.attempts(
        principal,
        AttemptFilter(
            subscription_id=subscription_id,
            phone_number_id=phone_number_id,
            event_type=event_type,
            event_id=event_id,
            success=success,
            limit=limit,
            offset=offset,
        ),
    )
    return AttemptList(
        deliveries=[AttemptOut.of(a) for a in attempts.items], has_more=attempts.has_more
    )


@router.post(
    "/{attempt_id}/replay", operation_id="replay_delivery", responses=errors(401, 404, 409, 422)
)
async def replay_delivery(
    attempt_id: str, principal: PrincipalDep, services: ServicesDep
) -> AttemptOut:
    """Re-send a logged attempt's event: same event id, fresh timestamp and request id."""
    return AttemptOut.of(await services.sends.replay(principal, attempt_id))
