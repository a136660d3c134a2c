"""Webhook subscriptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hookline.api.deps import Offset, PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.events import AttemptOut
from hookline.api.schemas.subscriptions import (
    RecoverIn,
    RecoverOut,
    RotateSecretIn,
    SecretOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionUpdate,
    TestSendIn,
)
from hookline.api.schemas.tasks import ReplayIn, TaskOut
from hookline.core.timefmt import ms_from_datetime
from hookline.services.subscription_rules import SubscriptionInput
from hookline.storage.records import SubscriptionFilter

router = APIRouter(prefix=API_PREFIX + "/webhooks/subscriptions", tags=["subscriptions"])


@router.post(
    "", status_code=201, operation_id="create_subscription", responses=errors(401, 403, 413, 422)
)
async def create_subscription(
    body: SubscriptionCreate, principal: PrincipalDep, services: ServicesDep
) -> SubscriptionCreated:
    """Create a subscription: an URL, the event types it wants and at most one owner
    (`mailbox_id`, `phone_number_id` or `agent_identity_id`; none makes it organization-wide,
    admin keys only). An agent key may only create subscriptions its identity owns (else 403).
    The answer carries, once, `secret` (profiles `standard`, `inbox`, `inboxroad`) and
    `signing_key` when this create minted the owner's `inkbox` signing key."""
    data = body.model_dump(exclude={"filters"})
    data["domains"] = body.filters.domains if body.filters else []
    created = await services.subscriptions.create(principal, SubscriptionInput(**data))
    return SubscriptionCreated(
        **SubscriptionOut.of(created.subscription).model_dump(),
        signing_key=created.signing_key,
        secret=created.secret,
    )


@router.get("", operation_id="list_subscriptions", responses=errors(401, 422))
async def list_subscriptions(
    principal: PrincipalDep,
    services: ServicesDep,
    mailbox_id: str | None = None,
    phone_number_id: str | None = None,
    agent_identity_id: str | None = None,
    url: str | None = None,
    event_type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Offset = 0,
) -> SubscriptionList:
    """The subscriptions this key may see, oldest first. Filter by one owner at a time
    (`mailbox_id`, `phone_number_id` or `agent_identity_id`; more than one is 422), by `url`
    and by `event_type`."""
    flt = SubscriptionFilter(
        mailbox_id=mailbox_id,
        phone_number_id=phone_number_id,
        agent_identity_id=agent_identity_id,
        url=url,
        event_type=event_type,
    )
    subs = await services.subscriptions.list(principal, flt, limit, offset)
    return SubscriptionList(
        subscriptions=[SubscriptionOut.of(s) for s in subs.items], has_more=subs.has_more
    )


@router.get("/{subscription_id}", operation_id="get_subscription", responses=errors(401, 404))
async def get_subscription(
    subscription_id: str, principal: PrincipalDep, services: ServicesDep
) -> SubscriptionOut:
    """One subscription."""
    return SubscriptionOut.of(await services.subscriptions.get(principal, subscription_id))


@router.patch(
    "/{subscription_id}", operation_id="update_subscription", responses=errors(401, 404, 413, 422)
)
async def update_subscription(
    subscription_id: str, body: SubscriptionUpdate, principal: PrincipalDep, services: ServicesDep
) -> SubscriptionOut:
    """Change any of the fields sent; the others keep their values. The owner cannot change
    (422). Disabling stops its deliveries at once."""
    sub = await services.subscriptions.update(principal, subscription_id, body.changes())
    return SubscriptionOut.of(sub)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    operation_id="delete_subscription",
    responses=errors(401, 404),
)
async def delete_subscription(
    subscription_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Delete the subscription: its pending deliveries are cancelled at once (they stay in the
    log)."""
    await services.subscriptions.delete(principal, subscription_id)
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/test",
    operation_id="test_subscription",
    responses=errors(401, 404, 413, 422),
)
async def test_subscription(
    subscription_id: str, body: TestSendIn, principal: PrincipalDep, services: ServicesDep
) -> AttemptOut:
    """Deliver the catalog example of ``event_type`` now, signed; answers the logged attempt."""
    return AttemptOut.of(await services.sends.test(principal, subscription_id, body.event_type))


@router.get(
    "/{subscription_id}/secret", operation_id="get_subscription_secret", responses=errors(401, 404)
)
async def get_secret(
    subscription_id: str, principal: PrincipalDep, services: ServicesDep
) -> SecretOut:
    """The subscription's signing secret, readable again (profiles `standard`, `inbox` and
    `inboxroad`; an `inkbox` subscription is signed with its owner's signing key instead)."""
    sub = await services.subscriptions.get(principal, subscription_id)
    return SecretOut(secret=await services.signing.read_secret(sub))


@router.post(
    "/{subscription_id}/secret/rotate",
    operation_id="rotate_subscription_secret",
    responses=errors(401, 404, 413, 422),
)
async def rotate_secret(
    subscription_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: RotateSecretIn | None = None,
) -> SecretOut:
    """Make a new secret and answer it. For `grace_period_s` seconds the old secret keeps
    signing too, so receivers can switch without losing deliveries."""
    sub = await services.subscriptions.get(principal, subscription_id)
    grace = body.grace_period_s if body else None
    return SecretOut(secret=await services.signing.rotate_secret(sub, grace))


@router.post(
    "/{subscription_id}/recover",
    operation_id="recover_subscription",
    responses=errors(401, 404, 413, 422),
)
async def recover(
    subscription_id: str, body: RecoverIn, principal: PrincipalDep, services: ServicesDep
) -> RecoverOut:
    """Re-queue every failed delivery of the subscription created since `since`; answers how
    many."""
    count = await services.subscriptions.recover(
        principal, subscription_id, ms_from_datetime(body.since)
    )
    return RecoverOut(requeued=count)


@router.post(
    "/{subscription_id}/replay",
    status_code=202,
    operation_id="replay_subscription",
    responses=errors(401, 404, 409, 413, 422),
)
async def replay(
    subscription_id: str,
    body: ReplayIn,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
) -> TaskOut:
    """Re-send, in the background, the subscription's deliveries in `status` (`failed`,
    `held` or `succeeded`) created from `since` to `until` (now when left out), of
    `event_types` (all when left out): each keeps its event id. Answers the task (202); follow
    it at `GET /api/v1/tasks/{id}` (the `Location` header). A subscription has at most one
    replay queued or running (409 names it); a disabled one none (409)."""
    task = await services.tasks.start_replay(
        principal,
        subscription_id,
        since_ms=ms_from_datetime(body.since),
        until_ms=None if body.until is None else ms_from_datetime(body.until),
        status=body.status,
        event_types=body.event_types,
    )
    response.headers["Location"] = f"{API_PREFIX}/tasks/{task.id}"
    return TaskOut.of(task)
