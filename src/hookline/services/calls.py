"""Incoming calls, answered synchronously by the number's webhook within a bounded time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from hookline import __version__
from hookline.core import ids, profiles, validation
from hookline.core.catalog import INCOMING_CALL
from hookline.core.errors import TooManyRequests, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import Attempt, PhoneNumber
from hookline.core.outcome import SendResult
from hookline.services import wire
from hookline.services.clock import Clock
from hookline.services.destinations import DestinationCheck
from hookline.services.owners import INCOMING_CALL_ACTIONS, OwnerService
from hookline.services.principal import Principal
from hookline.services.sealed_places import key_place
from hookline.services.secretbox import SecretBox
from hookline.services.send_limits import SendLimits
from hookline.services.transport import Transport
from hookline.storage.base import Storage

USER_AGENT = f"Hookline/{__version__}"
CALL_ACTIONS = frozenset({"answer", "reject", "forward"})
NOT_REPLAYABLE = "incoming calls are answered synchronously and cannot be replayed"


@frozen
class CallDecision:
    action: str
    source: str  # "webhook" or "fallback"
    reason: str | None = None
    #: the receiver's other fields, passed through
    extra: Mapping[str, Any] = field(default_factory=dict)


class CallService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        box: SecretBox,
        owners: OwnerService,
        transport: Transport | None,
        *,
        timeout_s: float,
        fallback: str,
        allow_http: bool,
        destinations: DestinationCheck,
        limits: SendLimits,
        per_number_cap: int,
    ) -> None:
        self._limits = limits
        self._per_number_cap = per_number_cap
        self._destinations = destinations
        self._storage = storage
        self._clock = clock
        self._box = box
        self._owners = owners
        self._transport = transport
        self._timeout_s = timeout_s
        self._fallback = fallback
        self._allow_http = allow_http

    async def configure(
        self, principal: Principal, number_id: str, changes: Mapping[str, Any]
    ) -> PhoneNumber:
        """PATCH a number's ``incoming_call_action`` and ``incoming_call_webhook_url``."""
        principal.require_admin()
        phone = await self._owners.phone_number(principal, number_id)
        values: dict[str, Any] = {}
        if "incoming_call_action" in changes:
            action = changes["incoming_call_action"]
            if action not in INCOMING_CALL_ACTIONS:
                raise ValidationFailed(
                    "incoming_call_action", f"must be one of {', '.join(INCOMING_CALL_ACTIONS)}"
                )
            values["incoming_call_action"] = action
        if "incoming_call_webhook_url" in changes:
            url = changes["incoming_call_webhook_url"]
            values["incoming_call_webhook_url"] = (
                None
                if url is None
                else validation.url(
                    url, allow_http=self._allow_http, field="incoming_call_webhook_url"
                )
            )
        if values.get("incoming_call_webhook_url") is not None:
            await self._destinations.check(
                values["incoming_call_webhook_url"], "incoming_call_webhook_url"
            )
        action = values.get("incoming_call_action", phone.incoming_call_action)
        url = values.get("incoming_call_webhook_url", phone.incoming_call_webhook_url)
        if action == "webhook" and url is None:
            raise ValidationFailed(
                "incoming_call_webhook_url", "required when incoming_call_action is 'webhook'"
            )
        if values:
            await self._storage.update_phone_number(principal.organization_id, phone.id, values)
        return await self._owners.phone_number(principal, number_id)

    async def incoming(
        self, principal: Principal, number_id: str, call: Mapping[str, Any]
    ) -> CallDecision:
        """Ask the number's webhook what to do with a call; never take longer than the bound."""
        principal.require_admin()
        phone = await self._owners.phone_number(principal, number_id)
        started = self._clock.now_ms()
        payload = {"event_type": INCOMING_CALL, **call}
        payload.setdefault("phone_number_id", phone.id)
        payload.setdefault("to", phone.number)
        body = wire.dumps(payload)
        url = phone.incoming_call_webhook_url
        if phone.incoming_call_action != "webhook" or not url:
            # nothing is sent, but the call and the answer given are logged all the same
            reason = f"incoming_call_action is {phone.incoming_call_action!r}, not 'webhook'"
            result = SendResult(status=None, body=None, error=reason, duration_ms=0)
            decision = self._fall_back(reason)
        else:
            try:
                # a call holds a connection like a test send, within the same bounds; one
                # past them is answered at once by the fallback (a caller waits for no one)
                with self._limits.slot(
                    f"number:{phone.id}",
                    f"number:{phone.id}",
                    self._per_number_cap,
                    what="this number's webhook",
                ):
                    result = await self._ask(phone, url, body, started)
                decision = self._decide(result)
            except TooManyRequests as exc:
                result = SendResult(status=None, body=None, error=exc.message, duration_ms=0)
                decision = self._fall_back(exc.message)
        await self._storage.insert_attempt(
            Attempt(
                id=ids.new_time_uuid(started),
                organization_id=phone.organization_id,
                delivery_id=None,
                subscription_id=None,
                phone_number_id=phone.id,
                event_id=str(call.get("call_id") or ids.new_event_id()),
                event_type=INCOMING_CALL,
                url=url or "",
                request_payload=body.decode(),
                response_status=result.status,
                response_body=result.body,
                error_detail=decision.reason,
                duration_ms=result.duration_ms,
                is_replay=False,
                created_at_ms=started,
                replayable=False,
                replay_unavailable_reason=NOT_REPLAYABLE,
                response_headers=result.headers,
            )
        )
        return decision

    async def _ask(self, phone: PhoneNumber, url: str, body: bytes, started_ms: int) -> SendResult:
        """POST the signed call payload to the number's webhook."""
        key = await self._signing_key(phone)
        if key is None:
            return SendResult(
                status=None,
                body=None,
                error="no signing key: create one with POST /signing-keys",
                duration_ms=0,
            )
        request_id = ids.new_request_id()
        headers = profiles.request_headers(
            signature_headers=profiles.sign_headers(
                profiles.INKBOX,
                body=body,
                event_id=request_id,
                secrets=[key],
                attempt=profiles.AttemptIdentity(
                    timestamp_s=started_ms // 1000, request_id=request_id
                ),
            ),
            custom_headers={},
            user_agent=USER_AGENT,
            auth_token=None,
        )
        return await self._post(url, body, headers)

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        if self._transport is None:
            return SendResult(status=None, body=None, error="no HTTP transport", duration_ms=0)
        try:
            # the transport's own timeout bounds the request; this bounds everything else too
            return await asyncio.wait_for(
                self._transport.post(url, body, headers, timeout_s=self._timeout_s),
                self._timeout_s + 0.5,
            )
        except TimeoutError:
            return SendResult(
                status=None,
                body=None,
                error=f"timed out after {self._timeout_s:g} s",
                duration_ms=int(self._timeout_s * 1000),
            )

    async def _signing_key(self, phone: PhoneNumber) -> str | None:
        found = await self._storage.current_signing_key(
            phone.organization_id, phone.agent_identity_id
        )
        if found is None and phone.agent_identity_id is not None:
            found = await self._storage.current_signing_key(phone.organization_id, None)
        return self._box.open(found.key_enc, key_place(found.id)) if found else None

    def _decide(self, result: SendResult) -> CallDecision:
        if result.status is None:
            return self._fall_back(result.error or "no answer")
        if not 200 <= result.status < 300:
            return self._fall_back(f"the webhook answered HTTP {result.status}")
        try:
            answer = json.loads(result.body or "")
        except ValueError:
            return self._fall_back("the webhook's answer is not JSON")
        if not isinstance(answer, dict):
            return self._fall_back("the webhook's answer is not a JSON object")
        action = answer.get("action")
        if action not in CALL_ACTIONS:
            return self._fall_back(
                f"the webhook's action {action!r} is not one of answer, reject, forward"
            )
        extra = {k: v for k, v in answer.items() if k not in ("action", "source", "reason")}
        return CallDecision(action=action, source="webhook", extra=extra)

    def _fall_back(self, reason: str) -> CallDecision:
        return CallDecision(action=self._fallback, source="fallback", reason=reason)
