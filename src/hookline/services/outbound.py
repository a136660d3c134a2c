"""A leased delivery as it goes out, and its outcome as it is recorded.

One road for both consumers of a lease: the worker's dispatcher, which POSTs the request,
and a pull subscription's consumer, which is handed the same request (``PullService``). The
headers and body are rendered and signed here the same way for each; an answer, whoever got
it, becomes an ``OutcomeRecord`` here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from hookline import __version__
from hookline.core import ids, profiles
from hookline.core.frozen import frozen
from hookline.core.models import Attempt, ClaimedDelivery
from hookline.core.outcome import SendResult, classify
from hookline.core.retry import decide
from hookline.services import wire
from hookline.services.sealed_places import key_place, open_headers, sub_place
from hookline.services.secretbox import SecretBox
from hookline.storage.records import OutcomeRecord

USER_AGENT = f"Hookline/{__version__}"
#: the columns of a claim's subscription secrets, in the order the claim gives them
_SECRET_COLUMNS = ("secret_enc", "previous_secret_enc")
NO_KEY = "no signing key is configured for this subscription's owner"


@frozen
class Material:
    """What signs and accompanies a leased delivery, opened: or why it cannot be sent."""

    secrets: Sequence[str]
    auth_token: str | None
    custom_headers: Mapping[str, str]
    #: set when there is no secret to sign with (then nothing may be sent)
    problem: str | None


def open_material(box: SecretBox, c: ClaimedDelivery) -> Material:
    """Open a claim's sealed secrets, auth token and custom headers."""
    sub = c.subscription
    custom: Mapping[str, str] = sub.headers  # none, or stored plain by an earlier version
    try:
        secrets = _open_secrets(box, c)
        auth = (
            box.open(c.auth_token_ciphertext, sub_place("auth_token_enc", sub.id))
            if c.auth_token_ciphertext
            else None
        )
        if c.headers_ciphertext is not None:
            custom = open_headers(box, c.headers_ciphertext, sub.id)
    except RuntimeError as exc:
        return Material(secrets=(), auth_token=None, custom_headers={}, problem=str(exc))
    return Material(
        secrets=secrets,
        auth_token=auth,
        custom_headers=custom,
        problem=None if secrets else NO_KEY,
    )


def _open_secrets(box: SecretBox, c: ClaimedDelivery) -> list[str]:
    """The signing secrets, each opened for the place it is stored: the owner's key row
    (inkbox), else the subscription's current and previous secret columns."""
    found = c.secret_ciphertexts
    if c.signing_key_id is not None:
        return [box.open(x, key_place(c.signing_key_id)) for x in found]
    sub_id = c.subscription.id
    return [
        box.open(x, sub_place(column, sub_id))
        for x, column in zip(found, _SECRET_COLUMNS, strict=False)
    ]


def render_body(c: ClaimedDelivery) -> bytes:
    """The delivery's body as its profile renders its event."""
    event = c.event
    return wire.render_body(
        c.subscription.profile,
        event_id=event.id,
        event_type=event.type,
        occurred_at_ms=event.occurred_at_ms,
        data=event.data,
    )


def build_request(
    c: ClaimedDelivery, material: Material, *, body: bytes, started_ms: int
) -> profiles.OutgoingRequest:
    """The signed request of one attempt (``material`` must have secrets)."""
    sub, event = c.subscription, c.event
    return profiles.build_request(
        sub.profile,
        body=body,
        event_id=event.id,
        secrets=material.secrets,
        attempt=profiles.AttemptIdentity(
            timestamp_s=started_ms // 1000,
            request_id=ids.new_request_id() if sub.profile in profiles.REQUEST_ID_SENT else "",
        ),
        custom_headers=material.custom_headers,
        user_agent=USER_AGENT,
        auth_token=material.auth_token,
    )


def outcome_record(
    c: ClaimedDelivery,
    *,
    body: bytes,
    result: SendResult,
    started_ms: int,
    now_ms: int,
    schedule: Sequence[int],
    jitter_ms: Callable[[], int],
    request_headers: str | None = None,
) -> OutcomeRecord:
    """The attempt's log entry and the delivery's next state (the retry schedule's choice).

    ``request_headers`` is what was sent, as ``attempt_headers.sent_headers`` wrote it."""
    outcome = classify(
        status=result.status,
        error=result.error,
        retry_after=result.retry_after,
        now_s=now_ms / 1000,
    )
    first = c.delivery.first_attempt_at_ms or started_ms
    decision = decide(
        outcome,
        schedule=c.subscription.retry_schedule or schedule,
        attempts_made=c.delivery.attempts + 1,
        first_attempt_at_ms=first,
        now_ms=now_ms,
        # only a retry is jittered: no random draw for the usual success
        jitter_ms=0 if outcome.success else jitter_ms(),
    )
    return OutcomeRecord(
        delivery_id=c.delivery.id,
        lease_token=c.lease_token,
        attempt=Attempt(
            id=ids.new_time_uuid(started_ms),
            organization_id=c.delivery.organization_id,
            delivery_id=c.delivery.id,
            subscription_id=c.subscription.id,
            phone_number_id=c.subscription.phone_number_id,
            mailbox_id=c.subscription.mailbox_id,
            agent_identity_id=c.subscription.agent_identity_id,
            event_id=c.event.id,
            event_type=c.event.type,
            url=c.subscription.url,
            request_payload=body.decode("utf-8", errors="replace"),
            response_status=result.status,
            response_body=result.body,
            error_detail=outcome.error,
            duration_ms=result.duration_ms,
            is_replay=c.delivery.replay,
            created_at_ms=started_ms,
            request_headers=request_headers,
            response_headers=result.headers,
        ),
        state=decision.state,
        next_attempt_at_ms=decision.next_attempt_at_ms,
        first_attempt_at_ms=first,
        disable_subscription_reason=decision.disable_reason,
    )
