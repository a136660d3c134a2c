"""Frozen domain values, built from rows at the storage edge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, Literal

from hookline.core.frozen import frozen

Scope = Literal["admin", "agent"]
#: ``held``: for a disabled subscription, kept unsent until it is enabled again (and then
#: sent or dropped, as the enabling says)
DeliveryState = Literal["pending", "delivering", "held", "succeeded", "failed", "cancelled"]
#: the states a delivery never leaves (but by an explicit replay or recover): what retention
#: may prune
FINAL_STATES: tuple[DeliveryState, ...] = ("succeeded", "failed", "cancelled")
JsonObject = Mapping[str, Any]


@frozen
class Organization:
    id: str
    name: str
    created_at_ms: int


@frozen
class ApiKey:
    id: str
    organization_id: str
    prefix: str
    scope: Scope
    agent_identity_id: str | None
    name: str | None
    created_at_ms: int
    revoked_at_ms: int | None = None


@frozen
class Identity:
    id: str
    organization_id: str
    agent_handle: str
    created_at_ms: int


@frozen
class Mailbox:
    id: str
    organization_id: str
    email_address: str
    agent_identity_id: str | None
    webhook_url: str | None
    created_at_ms: int


@frozen
class PhoneNumber:
    id: str
    organization_id: str
    number: str
    agent_identity_id: str | None
    incoming_call_action: str
    incoming_call_webhook_url: str | None
    created_at_ms: int


@frozen
class Subscription:
    """A URL that wants some event types of one owner (or the whole organization)."""

    id: str
    organization_id: str
    url: str
    event_types: tuple[str, ...]
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    #: the identity that owns the subscription's channel (or the identity itself)
    owner_identity_id: str | None = None
    name: str | None = None
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    profile: str = "standard"
    headers: Mapping[str, str] = field(default_factory=dict)
    domains: tuple[str, ...] = ()
    retry_schedule: tuple[int, ...] | None = None
    max_in_flight: int | None = None
    rate_limit_per_second: float | None = None
    has_auth_token: bool = False
    source: str = "api"
    created_at_ms: int = 0
    updated_at_ms: int = 0
    #: "push" (workers POST to url) or "pull" (a consumer takes deliveries over the API;
    #: url is empty)
    mode: str = "push"


@frozen
class Event:
    """Something that happened: published once, immutable, stable id."""

    id: str
    organization_id: str
    type: str
    data: JsonObject
    occurred_at_ms: int
    created_at_ms: int
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    #: the identity the event belongs to (directly, or through its mailbox or number)
    agent_identity_id: str | None = None
    domain: str | None = None
    #: ``data`` as compact JSON text, when the publish has encoded it already (to check its
    #: size): the store writes it as it is rather than encode the same object twice
    data_json: str | None = field(default=None, compare=False, repr=False)


@frozen
class Delivery:
    id: str
    organization_id: str
    event_id: str
    subscription_id: str
    state: DeliveryState
    attempts: int
    next_attempt_at_ms: int | None
    first_attempt_at_ms: int | None
    last_attempt_at_ms: int | None
    last_status: int | None
    last_error: str | None
    created_at_ms: int
    updated_at_ms: int
    #: a pull subscription's: only its consumer leases it, no worker claims it
    pull: bool = False
    #: re-queued by a bulk replay after it had been sent: its attempts are logged as replays
    replay: bool = False


@frozen
class Attempt:
    """One HTTP request of a delivery, as logged."""

    id: str
    organization_id: str
    delivery_id: str | None
    subscription_id: str | None
    phone_number_id: str | None
    event_id: str
    event_type: str
    url: str
    request_payload: str
    response_status: int | None
    response_body: str | None
    error_detail: str | None
    duration_ms: int
    is_replay: bool
    created_at_ms: int
    replayable: bool = True
    replay_unavailable_reason: str | None = None
    #: the subscription's owner, when it is a mailbox or an identity (copied for the log)
    mailbox_id: str | None = None
    agent_identity_id: str | None = None
    #: the headers sent (secret values masked) and received (capped), each one JSON object
    request_headers: str | None = None
    response_headers: str | None = None


@frozen
class ClaimedDelivery:
    """A delivery leased to one worker, with everything needed to send it."""

    delivery: Delivery
    event: Event
    subscription: Subscription
    lease_token: str
    #: encrypted signing material and auth token, opened by the services layer
    secret_ciphertexts: Sequence[str] = ()
    auth_token_ciphertext: str | None = None
    #: the row of the signing key in ``secret_ciphertexts`` (inkbox profile): its ciphertext
    #: is bound to that row
    signing_key_id: str | None = None
    #: the custom headers' values, sealed (None: none, or stored plain in the subscription)
    headers_ciphertext: str | None = None
