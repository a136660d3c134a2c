"""Sends made now, outside the queue: test sends and replays. Each is logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline import __version__
from hookline.core import attempt_headers, ids, profiles
from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE
from hookline.core.errors import PRUNED_NOTE, Conflict, NotFound, ValidationFailed
from hookline.core.models import Attempt, Subscription
from hookline.core.outcome import SendResult, classify
from hookline.services import wire
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.services.send_limits import SendLimits, shared_slot
from hookline.services.signing import SigningService
from hookline.services.subscription_rules import visible
from hookline.services.subscriptions import SubscriptionService
from hookline.services.transport import Transport
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter

USER_AGENT = f"Hookline/{__version__}"


class SendService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        subscriptions: SubscriptionService,
        signing: SigningService,
        transport: Transport | None,
        *,
        limits: SendLimits,
        default_cap: int,
    ) -> None:
        self._limits = limits
        self._default_cap = default_cap
        self._storage = storage
        self._clock = clock
        self._subscriptions = subscriptions
        self._signing = signing
        self._transport = transport

    async def test(self, principal: Principal, sub_id: str, event_type: str) -> Attempt:
        """Deliver the catalog example of ``event_type`` to the subscription, now."""
        sub = await self._subscriptions.get(principal, sub_id)
        if event_type not in CATALOG or event_type in NOT_SUBSCRIBABLE:
            raise ValidationFailed("event_type", f"{event_type!r} is not a subscribable type")
        if event_type not in sub.event_types:
            # it could be sent, but not replayed: replays go only where the type is taken
            raise ValidationFailed(
                "event_type",
                f"the subscription does not take {event_type!r} "
                f"(it takes {', '.join(sub.event_types)})",
            )
        example = CATALOG[event_type].example
        now = self._clock.now_ms()
        return await self._send(
            principal,
            sub,
            event_id="evt_test_" + ids.new_request_id().removeprefix("req_"),
            event_type=event_type,
            occurred_at_ms=now,
            data=example,
            delivery_id=None,
            is_replay=False,
        )

    async def replay(self, principal: Principal, attempt_id: str) -> Attempt:
        """Re-send a logged attempt's event: same event id, fresh timestamp and request id."""
        logged = await self._storage.get_attempt(principal.organization_id, attempt_id)
        if logged is None:
            raise NotFound("delivery", attempt_id, note=PRUNED_NOTE)
        sub = None
        if logged.subscription_id is not None:
            sub = await self._storage.get_subscription(
                principal.organization_id, logged.subscription_id
            )
        if not await self._visible(principal, logged, sub):
            raise NotFound("delivery", attempt_id)
        if not logged.replayable:
            raise ValidationFailed(
                "id", logged.replay_unavailable_reason or "this delivery cannot be replayed"
            )
        if sub is None:
            raise Conflict("the subscription of this delivery no longer exists")
        if logged.event_type not in sub.event_types:
            raise Conflict(f"the subscription no longer takes {logged.event_type!r}")
        event = await self._storage.get_event(principal.organization_id, logged.event_id)
        if event is not None:
            data: Mapping[str, Any] = event.data
            occurred = event.occurred_at_ms
        else:  # a test send: its event lives only in the log
            data, occurred = _logged_data(logged, sub.profile), logged.created_at_ms
        return await self._send(
            principal,
            sub,
            event_id=logged.event_id,
            event_type=logged.event_type,
            occurred_at_ms=occurred,
            data=data,
            delivery_id=logged.delivery_id,
            is_replay=True,
        )

    async def _visible(
        self, principal: Principal, logged: Attempt, sub: Subscription | None
    ) -> bool:
        """Whether an agent key may see ``logged``: an attempt of its subscription (also
        of a deleted one, as its delivery log shows them) or of its number's incoming call."""
        if principal.is_admin:
            return True
        if sub is not None:
            return visible(principal, sub)
        if logged.subscription_id is None:
            phone = await self._storage.phone_number_by_id(
                principal.organization_id, logged.phone_number_id or ""
            )
            return phone is not None and phone.agent_identity_id == principal.identity_id
        # the subscription is deleted: ask the log, which still knows whose it was
        own = await self._storage.list_attempts(
            principal.organization_id,
            AttemptFilter(
                subscription_id=logged.subscription_id,
                owner_identity_id=principal.identity_id or "",
                limit=1,
            ),
        )
        return bool(own)

    async def _send(
        self,
        principal: Principal,
        sub: Subscription,
        *,
        event_id: str,
        event_type: str,
        occurred_at_ms: int,
        data: Mapping[str, Any],
        delivery_id: str | None,
        is_replay: bool,
    ) -> Attempt:
        if sub.mode == "pull":
            raise Conflict("a pull subscription's deliveries are pulled by its consumer, not sent")
        if self._transport is None:
            raise Conflict("this process cannot send: it has no HTTP transport")
        # within the subscription's cap (with its deliveries under way) and the process's bounds
        cap = sub.max_in_flight or self._default_cap
        with self._limits.slot(
            _caller(principal),
            f"subscription:{sub.id}",
            cap,
            what="this subscription",
            subscription_id=sub.id,
        ):
            timeout_s = self._limits.bounds.retry_after_s
            async with shared_slot(self._storage, self._clock, sub, timeout_s):
                return await self._send_now(
                    sub,
                    event_id=event_id,
                    event_type=event_type,
                    occurred_at_ms=occurred_at_ms,
                    data=data,
                    delivery_id=delivery_id,
                    is_replay=is_replay,
                )

    async def _send_now(
        self,
        sub: Subscription,
        *,
        event_id: str,
        event_type: str,
        occurred_at_ms: int,
        data: Mapping[str, Any],
        delivery_id: str | None,
        is_replay: bool,
    ) -> Attempt:
        assert self._transport is not None
        started = self._clock.now_ms()
        secrets = await self._signing.signing_secrets(sub)
        body = wire.render_body(
            sub.profile,
            event_id=event_id,
            event_type=event_type,
            occurred_at_ms=occurred_at_ms,
            data=data,
        )
        sent: str | None = None
        if not secrets:
            result = SendResult(
                status=None, body=None, error="no signing key is configured", duration_ms=0
            )
        else:
            custom = await self._signing.custom_headers(sub)
            request = profiles.build_request(
                sub.profile,
                body=body,
                event_id=event_id,
                secrets=secrets,
                attempt=profiles.AttemptIdentity(
                    timestamp_s=started // 1000, request_id=ids.new_request_id()
                ),
                custom_headers=custom,
                user_agent=USER_AGENT,
                auth_token=await self._signing.auth_token(sub),
            )
            sent = attempt_headers.sent_headers(request.headers, custom)
            result = await self._transport.post(sub.url, request.body, request.headers)
        outcome = classify(status=result.status, error=result.error)
        attempt = Attempt(
            id=ids.new_time_uuid(started),
            organization_id=sub.organization_id,
            delivery_id=delivery_id,
            subscription_id=sub.id,
            phone_number_id=sub.phone_number_id,
            mailbox_id=sub.mailbox_id,
            agent_identity_id=sub.agent_identity_id,
            event_id=event_id,
            event_type=event_type,
            url=sub.url,
            request_payload=body.decode("utf-8", errors="replace"),
            response_status=result.status,
            response_body=result.body,
            error_detail=outcome.error,
            duration_ms=result.duration_ms,
            is_replay=is_replay,
            created_at_ms=started,
            request_headers=sent,
            response_headers=result.headers,
        )
        await self._storage.insert_attempt(attempt)
        return attempt


def _caller(principal: Principal) -> str:
    """Whose sends these are, for their bound: an agent identity's keys, or the admins'."""
    if principal.identity_id is not None and not principal.is_admin:
        return f"identity:{principal.identity_id}"
    return f"admins:{principal.organization_id}"


def _logged_data(logged: Attempt, profile: str) -> Mapping[str, Any]:
    """The event data inside a logged request body (test sends keep no event row)."""
    import json

    try:
        payload = json.loads(logged.request_payload)
    except ValueError:
        return {}
    if profile == profiles.INBOXROAD:
        return {k: v for k, v in payload.items() if k not in ("kind", "timestamp")}
    data = payload.get("data", {})
    return data if isinstance(data, dict) else {}
