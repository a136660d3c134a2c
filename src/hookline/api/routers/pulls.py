"""Pull subscriptions: lease deliveries, acknowledge them, hand them back."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.pulls import (
    AckIn,
    AckOut,
    AckResultOut,
    PulledOut,
    PullIn,
    PullOut,
    ReleaseIn,
)
from hookline.services.pulls import Ack

router = APIRouter(prefix=API_PREFIX + "/webhooks/subscriptions", tags=["subscriptions"])


@router.post(
    "/{subscription_id}/pull",
    operation_id="pull_deliveries",
    responses=errors(401, 404, 409, 413, 422),
)
async def pull(
    subscription_id: str,
    body: PullIn,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
) -> PullOut:
    """Lease up to `max` due deliveries of a `pull` subscription, waiting up to `wait_s`
    seconds for one if none is due. Each comes as its profile would POST it (headers and body,
    signed) with a `lease`; acknowledge it with `POST .../ack` before the lease runs out
    (`HOOKLINE_PULL_LEASE_S`), or it falls due again. A `push` subscription is 409."""
    found = await services.pulls.pull(
        principal, subscription_id, body.max, body.wait_s, gone=request.is_disconnected
    )
    return PullOut(deliveries=[PulledOut.of(p) for p in found])


@router.post(
    "/{subscription_id}/ack",
    operation_id="ack_deliveries",
    responses=errors(401, 404, 409, 413, 422),
)
async def ack(
    subscription_id: str, body: AckIn, principal: PrincipalDep, services: ServicesDep
) -> AckOut:
    """Record the outcome of pulled deliveries, each as an attempt: a 2xx `status` succeeds,
    anything else (or none) is retried on the subscription's schedule, as a push failure
    would be. Per result, `status` 409 says its lease was stale or unknown: nothing of it was
    recorded."""
    acks = [
        Ack(
            delivery_id=r.delivery_id,
            lease=r.lease,
            status=r.status,
            body=r.body,
            error=r.error,
        )
        for r in body.results
    ]
    recorded = await services.pulls.ack(principal, subscription_id, acks)
    return AckOut(
        results=[
            AckResultOut(delivery_id=a.delivery_id, recorded=ok, status=200 if ok else 409)
            for a, ok in zip(acks, recorded, strict=True)
        ]
    )


@router.post(
    "/{subscription_id}/release",
    status_code=204,
    operation_id="release_deliveries",
    responses=errors(401, 404, 409, 413, 422),
)
async def release(
    subscription_id: str, body: ReleaseIn, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Hand back pulled deliveries unsent: each is due again at once, with no attempt
    counted. Leases no longer held are ignored."""
    leases = [(x.delivery_id, x.lease) for x in body.leases]
    await services.pulls.release(principal, subscription_id, leases)
    return Response(status_code=204)
