"""Every operation of the API under ``/api/v1`` as a request to make and a way to read its
answer, shared by ``Client`` and ``AsyncClient`` (which only carry them out).

``OPERATIONS`` maps each operation id of the server's OpenAPI document to the clients' method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from hookline_sdk import models as m
from hookline_sdk.errors import UnexpectedResponseError

T = TypeVar("T")

API: str = "/api/v1"
#: events per batch request: the server refuses more (``MAX_BATCH`` of its publishing service)
MAX_BATCH_EVENTS = 1000
#: the server's default request body limit (``HOOKLINE_MAX_BODY_BYTES``)
DEFAULT_MAX_BODY_BYTES = 1_048_576
#: methods that may be sent again when no answer came back
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

OPERATIONS: dict[str, str] = {
    op: op
    for op in (
        "publish_event",
        "publish_events_batch",
        "get_event",
        "get_event_deliveries",
        "create_subscription",
        "list_subscriptions",
        "get_subscription",
        "update_subscription",
        "delete_subscription",
        "test_subscription",
        "get_subscription_secret",
        "rotate_subscription_secret",
        "recover_subscription",
        "replay_subscription",
        "list_tasks",
        "get_task",
        "pull_deliveries",
        "ack_deliveries",
        "release_deliveries",
        "list_deliveries",
        "replay_delivery",
        "create_identity",
        "list_identities",
        "get_identity",
        "delete_identity",
        "create_mailbox",
        "list_mailboxes",
        "get_mailbox",
        "update_mailbox",
        "create_phone_number",
        "list_phone_numbers",
        "get_phone_number",
        "update_phone_number",
        "incoming_call",
        "create_api_key",
        "list_api_keys",
        "revoke_api_key",
        "rotate_identity_signing_key",
        "get_identity_signing_key_status",
        "rotate_organization_signing_key",
        "get_organization_signing_key_status",
        "create_portal_link",
        "get_catalog",
    )
}


@dataclass(frozen=True, kw_only=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    body: Any = None
    has_body: bool = False
    #: this request's own timeout (a long poll's), instead of the client's
    timeout_s: float | None = None


def _path(*segments: str) -> str:
    return API + "".join("/" + quote(s, safe="") if i % 2 else s for i, s in enumerate(segments))


def _params(**given: Any) -> dict[str, Any]:
    out = {}
    for k, v in given.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, datetime):
            v = v.isoformat()
        out[k] = v
    return out


def _none(_: Any) -> None:
    return None


def _json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnexpectedResponseError(f"expected a JSON object, got {data!r}")
    return data


def _field(name: str, kind: type[T]) -> Callable[[Any], T]:
    def read(data: Any) -> T:
        value = data.get(name) if isinstance(data, Mapping) else None
        if not isinstance(value, kind):
            raise UnexpectedResponseError(f"expected {name!r} in the answer")
        return value

    return read


def event_body(event: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in event.items() if v is not None}
    when = body.get("occurred_at")
    if isinstance(when, datetime):
        body["occurred_at"] = when.isoformat()
    return body


# events


def publish_event(body: dict[str, Any]) -> Call[m.Published]:
    return Call(
        method="POST",
        path=_path("/events"),
        parse=lambda d: m.build(m.Published, d),
        body=body,
        has_body=True,
    )


def publish_events_batch(bodies: Sequence[dict[str, Any]]) -> Call[tuple[m.Published, ...]]:
    return Call(
        method="POST",
        path=_path("/events/batch"),
        parse=lambda d: m.build_list(m.Published, d, "events"),
        body={"events": list(bodies)},
        has_body=True,
    )


def chunk_events(
    bodies: Iterable[dict[str, Any]], *, max_events: int, max_bytes: int, size: Callable[[Any], int]
) -> Iterable[list[dict[str, Any]]]:
    """Batches of at most ``max_events`` events whose request body stays within ``max_bytes``
    (an event too large on its own goes alone, and the server says 413)."""
    overhead = len(b'{"events":[]}')
    chunk: list[dict[str, Any]] = []
    used = overhead
    for body in bodies:
        n = size(body) + 1  # the comma
        if chunk and (len(chunk) >= max_events or used + n > max_bytes):
            yield chunk
            chunk, used = [], overhead
        chunk.append(body)
        used += n
    if chunk:
        yield chunk


def get_event(event_id: str) -> Call[m.Event]:
    return Call(method="GET", path=_path("/events", event_id), parse=lambda d: m.build(m.Event, d))


def get_event_deliveries(event_id: str) -> Call[m.EventDeliveries]:
    return Call(
        method="GET",
        path=_path("/events", event_id, "/deliveries"),
        parse=m.event_deliveries,
    )


# subscriptions

_SUBS = "/webhooks/subscriptions"


def create_subscription(body: dict[str, Any]) -> Call[m.CreatedSubscription]:
    return Call(
        method="POST",
        path=_path(_SUBS),
        parse=lambda d: m.build(m.CreatedSubscription, d),
        body=body,
        has_body=True,
    )


def list_subscriptions(params: dict[str, Any]) -> Call[m.Page[m.Subscription]]:
    return Call(
        method="GET",
        path=_path(_SUBS),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "subscriptions", lambda x: m.build(m.Subscription, x)),
    )


def get_subscription(subscription_id: str) -> Call[m.Subscription]:
    return Call(
        method="GET",
        path=_path(_SUBS, subscription_id),
        parse=lambda d: m.build(m.Subscription, d),
    )


def update_subscription(subscription_id: str, changes: Mapping[str, Any]) -> Call[m.Subscription]:
    return Call(
        method="PATCH",
        path=_path(_SUBS, subscription_id),
        parse=lambda d: m.build(m.Subscription, d),
        body=dict(changes),
        has_body=True,
    )


def delete_subscription(subscription_id: str) -> Call[None]:
    return Call(method="DELETE", path=_path(_SUBS, subscription_id), parse=_none)


def test_subscription(subscription_id: str, event_type: str) -> Call[m.Attempt]:
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/test"),
        parse=lambda d: m.build(m.Attempt, d),
        body={"event_type": event_type},
        has_body=True,
    )


def get_subscription_secret(subscription_id: str) -> Call[str]:
    return Call(
        method="GET", path=_path(_SUBS, subscription_id, "/secret"), parse=_field("secret", str)
    )


def rotate_subscription_secret(subscription_id: str, grace_period_s: int | None) -> Call[str]:
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/secret/rotate"),
        parse=_field("secret", str),
        body={"grace_period_s": grace_period_s} if grace_period_s is not None else {},
        has_body=True,
    )


def recover_subscription(subscription_id: str, since: str | datetime) -> Call[int]:
    when = since.isoformat() if isinstance(since, datetime) else since
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/recover"),
        parse=_field("requeued", int),
        body={"since": when},
        has_body=True,
    )


def replay_subscription(
    subscription_id: str,
    since: str | datetime,
    status: str,
    until: str | datetime | None,
    event_types: Sequence[str] | None,
) -> Call[m.Task]:
    body: dict[str, Any] = {"since": _when(since), "status": status}
    if until is not None:
        body["until"] = _when(until)
    if event_types is not None:
        body["event_types"] = list(event_types)
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/replay"),
        parse=lambda d: m.build(m.Task, d),
        body=body,
        has_body=True,
    )


def _when(at: str | datetime) -> str:
    return at.isoformat() if isinstance(at, datetime) else at


# background tasks


def list_tasks(params: dict[str, Any]) -> Call[m.Page[m.Task]]:
    return Call(
        method="GET",
        path=_path("/tasks"),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "tasks", lambda x: m.build(m.Task, x)),
    )


def get_task(task_id: str) -> Call[m.Task]:
    return Call(method="GET", path=_path("/tasks", task_id), parse=lambda d: m.build(m.Task, d))


# pull subscriptions

#: how much longer than a pull's wait its request may take before the client gives up
PULL_MARGIN_S = 30.0


def pull_deliveries(subscription_id: str, max: int, wait_s: float) -> Call[tuple[m.Pulled, ...]]:
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/pull"),
        parse=lambda d: m.build_list(m.Pulled, d, "deliveries"),
        body={"max": max, "wait_s": wait_s},
        has_body=True,
        timeout_s=wait_s + PULL_MARGIN_S,
    )


def ack_deliveries(
    subscription_id: str, results: Iterable[Mapping[str, Any]]
) -> Call[tuple[m.AckResult, ...]]:
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/ack"),
        parse=lambda d: m.build_list(m.AckResult, d, "results"),
        body={"results": [dict(r) for r in results]},
        has_body=True,
    )


def release_deliveries(
    subscription_id: str, leases: Iterable[m.Pulled | Mapping[str, Any]]
) -> Call[None]:
    return Call(
        method="POST",
        path=_path(_SUBS, subscription_id, "/release"),
        parse=_none,
        body={"leases": [_lease(x) for x in leases]},
        has_body=True,
    )


def _lease(x: m.Pulled | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(x, m.Pulled):
        return {"delivery_id": x.delivery_id, "lease": x.lease}
    return {"delivery_id": x["delivery_id"], "lease": x["lease"]}


# the delivery log


def list_deliveries(params: dict[str, Any]) -> Call[m.Page[m.Attempt]]:
    return Call(
        method="GET",
        path=_path("/webhooks/deliveries"),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "deliveries", lambda x: m.build(m.Attempt, x)),
    )


def replay_delivery(attempt_id: str) -> Call[m.Attempt]:
    return Call(
        method="POST",
        path=_path("/webhooks/deliveries", attempt_id, "/replay"),
        parse=lambda d: m.build(m.Attempt, d),
    )


# owners


def create_identity(agent_handle: str) -> Call[m.Identity]:
    return Call(
        method="POST",
        path=_path("/identities"),
        parse=lambda d: m.build(m.Identity, d),
        body={"agent_handle": agent_handle},
        has_body=True,
    )


def list_identities(params: dict[str, Any]) -> Call[m.Page[m.Identity]]:
    return Call(
        method="GET",
        path=_path("/identities"),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "identities", lambda x: m.build(m.Identity, x)),
    )


def get_identity(agent_handle: str) -> Call[m.Identity]:
    return Call(
        method="GET",
        path=_path("/identities", agent_handle),
        parse=lambda d: m.build(m.Identity, d),
    )


def delete_identity(agent_handle: str) -> Call[None]:
    return Call(method="DELETE", path=_path("/identities", agent_handle), parse=_none)


def create_mailbox(email_address: str, agent_handle: str | None) -> Call[m.Mailbox]:
    body: dict[str, Any] = {"email_address": email_address}
    if agent_handle is not None:
        body["agent_handle"] = agent_handle
    return Call(
        method="POST",
        path=_path("/mail/mailboxes"),
        parse=lambda d: m.build(m.Mailbox, d),
        body=body,
        has_body=True,
    )


def list_mailboxes(params: dict[str, Any]) -> Call[m.Page[m.Mailbox]]:
    return Call(
        method="GET",
        path=_path("/mail/mailboxes"),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "mailboxes", lambda x: m.build(m.Mailbox, x)),
    )


def get_mailbox(email_address: str) -> Call[m.Mailbox]:
    return Call(
        method="GET",
        path=_path("/mail/mailboxes", email_address),
        parse=lambda d: m.build(m.Mailbox, d),
    )


def update_mailbox(email_address: str, webhook_url: str | None) -> Call[m.Mailbox]:
    return Call(
        method="PATCH",
        path=_path("/mail/mailboxes", email_address),
        parse=lambda d: m.build(m.Mailbox, d),
        body={"webhook_url": webhook_url},
        has_body=True,
    )


def create_phone_number(number: str, agent_handle: str | None) -> Call[m.PhoneNumber]:
    body: dict[str, Any] = {"number": number}
    if agent_handle is not None:
        body["agent_handle"] = agent_handle
    return Call(
        method="POST",
        path=_path("/phone/numbers"),
        parse=lambda d: m.build(m.PhoneNumber, d),
        body=body,
        has_body=True,
    )


def list_phone_numbers(params: dict[str, Any]) -> Call[m.Page[m.PhoneNumber]]:
    return Call(
        method="GET",
        path=_path("/phone/numbers"),
        params=_params(**params),
        parse=lambda d: m.page_of(d, "phone_numbers", lambda x: m.build(m.PhoneNumber, x)),
    )


def get_phone_number(number_id: str) -> Call[m.PhoneNumber]:
    return Call(
        method="GET",
        path=_path("/phone/numbers", number_id),
        parse=lambda d: m.build(m.PhoneNumber, d),
    )


def update_phone_number(number_id: str, changes: Mapping[str, Any]) -> Call[m.PhoneNumber]:
    return Call(
        method="PATCH",
        path=_path("/phone/numbers", number_id),
        parse=lambda d: m.build(m.PhoneNumber, d),
        body=dict(changes),
        has_body=True,
    )


def incoming_call(number_id: str, call: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call(
        method="POST",
        path=_path("/phone/numbers", number_id, "/incoming-call"),
        parse=_json_object,
        body=dict(call),
        has_body=True,
    )


# keys


def create_api_key(scope: str, agent_handle: str | None, name: str | None) -> Call[m.CreatedApiKey]:
    return Call(
        method="POST",
        path=_path("/api-keys"),
        parse=lambda d: m.build(m.CreatedApiKey, d),
        body=_params(scope=scope, agent_handle=agent_handle, name=name),
        has_body=True,
    )


def list_api_keys() -> Call[tuple[m.ApiKey, ...]]:
    return Call(
        method="GET",
        path=_path("/api-keys"),
        parse=lambda d: m.build_list(m.ApiKey, d, "api_keys"),
    )


def revoke_api_key(key_id: str) -> Call[None]:
    return Call(method="DELETE", path=_path("/api-keys", key_id), parse=_none)


def create_portal_link(
    ttl_s: int,
    agent_handle: str | None,
    mailbox_id: str | None,
    phone_number_id: str | None,
) -> Call[m.PortalLink]:
    return Call(
        method="POST",
        path=_path("/portal-links"),
        parse=lambda d: m.build(m.PortalLink, d),
        body=_params(
            ttl_s=ttl_s,
            agent_handle=agent_handle,
            mailbox_id=mailbox_id,
            phone_number_id=phone_number_id,
        ),
        has_body=True,
    )


def rotate_identity_signing_key(agent_handle: str) -> Call[m.SigningKey]:
    return Call(
        method="POST",
        path=_path("/identities", agent_handle, "/signing-key"),
        parse=lambda d: m.build(m.SigningKey, d),
    )


def get_identity_signing_key_status(agent_handle: str) -> Call[m.SigningKeyStatus]:
    return Call(
        method="GET",
        path=_path("/identities", agent_handle, "/signing-key"),
        parse=lambda d: m.build(m.SigningKeyStatus, d),
    )


def rotate_organization_signing_key() -> Call[m.SigningKey]:
    return Call(
        method="POST", path=_path("/signing-keys"), parse=lambda d: m.build(m.SigningKey, d)
    )


def get_organization_signing_key_status() -> Call[m.SigningKeyStatus]:
    return Call(
        method="GET",
        path=_path("/signing-keys"),
        parse=lambda d: m.build(m.SigningKeyStatus, d),
    )


def get_catalog() -> Call[tuple[m.EventType, ...]]:
    return Call(
        method="GET",
        path=_path("/webhooks/catalog"),
        parse=lambda d: m.build_list(m.EventType, d, "event_types"),
    )


# paging


def next_page(params: dict[str, Any], page: m.Page[Any], page_size: int) -> dict[str, Any] | None:
    """The parameters of the page after ``page``, or None when it was the last.

    The server's own word wins: ``next_cursor`` when it gives one, then ``has_more``; a
    server that says neither pages by offset, and a short page is its last."""
    if not page.items:
        return None
    if page.next_cursor:
        following = {k: v for k, v in params.items() if k != "offset"}
        following["cursor"] = page.next_cursor
        return following
    if page.has_more is False or (page.has_more is None and len(page.items) < page_size):
        return None
    following = {k: v for k, v in params.items() if k != "cursor"}
    following["offset"] = int(params.get("offset") or 0) + len(page.items)
    return following
