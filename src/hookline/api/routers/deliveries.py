"""The delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookline.api.deps import MAX_OFFSET, PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.common import IsoDateTime
from hookline.api.schemas.events import AttemptList, AttemptOut
from hookline.core.errors import ValidationFailed
from hookline.core.timefmt import ms_from_datetime
from hookline.services.deliveries import next_cursor
from hookline.storage.records import AttemptFilter

router = APIRouter(prefix=API_PREFIX + "/webhooks/deliveries", tags=["deliveries"])


@router.get("", operation_id="list_deliveries", responses=errors(401, 422))
async def list_deliveries(
    principal: PrincipalDep,
    services: ServicesDep,
    subscription_id: str | None = None,
    phone_number_id: str | None = None,
    mailbox_id: str | None = None,
    agent_identity_id: str | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
    success: bool | None = None,
    since: Annotated[IsoDateTime | None, Query()] = None,
    until: Annotated[IsoDateTime | None, Query()] = None,
    # clamped, not refused: the contract says 1-200
    limit: Annotated[int, Query()] = 50,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> AttemptList:
    """The attempt log, newest first: one entry per HTTP request Hookline made (and per incoming-
    call callback). Filters combine; `since` is inclusive and `until` exclusive (ISO 8601 with a
    zone). Page with `cursor` (the previous answer's `next_cursor`) or `offset`, not both;
    `limit` is clamped to 1-200. An agent key sees only its identity's."""
    if cursor is not None and offset is not None:
        raise ValidationFailed("cursor", "give either cursor or offset, not both")
    attempts = await services.deliveries.attempts(
        principal,
        AttemptFilter(
            subscription_id=subscription_id,
            phone_number_id=phone_number_id,
            mailbox_id=mailbox_id,
            agent_identity_id=agent_identity_id,
            event_type=event_type,
            event_id=event_id,
            status_code=status_code,
            success=success,
            since_ms=None if since is None else ms_from_datetime(since),
            until_ms=None if until is None else ms_from_datetime(until),
            limit=limit,
            offset=offset or 0,
        ),
        cursor=cursor,
    )
    return AttemptList(
        deliveries=[AttemptOut.of(a) for a in attempts.items],
        has_more=attempts.has_more,
        next_cursor=next_cursor(attempts),
    )


@router.post(
    "/{attempt_id}/replay", operation_id="replay_delivery", responses=errors(401, 404, 409, 422)
)
async def replay_delivery(
    attempt_id: str, principal: PrincipalDep, services: ServicesDep
) -> AttemptOut:
    """Re-send a logged attempt's event: same event id, fresh timestamp and request id."""
    return AttemptOut.of(await services.sends.replay(principal, attempt_id))
