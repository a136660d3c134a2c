"""Scoped API keys: admin and agent keys, what each may see and do, revocation.

``test_every_route_with_both_kinds_of_key`` walks a table of every route of the API (checked
against the server's own OpenAPI document, so a new route cannot be left out) with an admin
key, an agent key, no key and revoked keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Receiver, Server

API_KEY_CREATED_FIELDS = {"id", "key", "scope", "agent_identity_id", "created_at"}
API_KEY_LISTED_FIELDS = {
    "id", "prefix", "scope", "agent_identity_id", "name", "created_at", "revoked_at",
}  # fmt: skip
SINCE = "2020-01-01T00:00:00Z"


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


KeyClient = Callable[..., httpx.Client]


@pytest.fixture
def server(launcher: Launcher, database_url: str) -> Server:
    # these tests present wrong keys on purpose, far more often than a guesser may
    return launcher.serve(database_url, HOOKLINE_AUTH_FAILURES_PER_MINUTE="1000000")


@pytest.fixture
def as_key(server: Server) -> Iterator[KeyClient]:
    """``as_key(key)``: a client for the server holding ``key`` (None: no key) instead of the
    admin key; ``bearer=True`` sends it as ``Authorization: Bearer``."""
    made: list[httpx.Client] = []

    def make(key: str | None, *, bearer: bool = False) -> httpx.Client:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
        client = httpx.Client(base_url=server.base, headers=headers, timeout=30)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def new_key(server: Server, scope: str, agent_handle: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"scope": scope}
    if agent_handle is not None:
        body["agent_handle"] = agent_handle
    created = ok(server.api("POST", "/api-keys", json=body), 201)
    assert set(created) == API_KEY_CREATED_FIELDS
    return dict(created)


def attempts(server: Server, **params: Any) -> list[dict[str, Any]]:
    resp = server.api("GET", "/webhooks/deliveries", params={"limit": 200, **params})
    return list(ok(resp)["deliveries"])


def wait_attempts(server: Server, n: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = attempts(server)
        if len(rows) >= n:
            return rows
        assert time.monotonic() < deadline, f"expected {n} logged attempts, got {len(rows)}"
        time.sleep(0.05)


def subscribe(server: Server, url: str, types: list[str], **owner: str) -> str:
    body = {"url": url, "event_types": types, **owner}
    return str(ok(server.api("POST", "/webhooks/subscriptions", json=body), 201)["id"])


def build_world(server: Server, receiver: Receiver) -> dict[str, str]:
    """Two agents (a, b), their channels and subscriptions, an org-wide subscription, an
    Inbox-style webhook, events delivered to all of them and an incoming call on a's number."""
    w: dict[str, str] = {}
    for handle in ("agent-a", "agent-b", "doomed"):
        ident = ok(server.api("POST", "/identities", json={"agent_handle": handle}), 201)
        w[f"id_{handle}"] = ident["id"]
    w["id_a"], w["id_b"] = w["id_agent-a"], w["id_agent-b"]
    for name, owner in (("a", "agent-a"), ("b", "agent-b"), ("free", None)):
        body = {"email_address": f"{name}@example.com", "agent_handle": owner}
        w[f"mb_{name}"] = ok(server.api("POST", "/mail/mailboxes", json=body), 201)["id"]
    for name, number, owner in (("a", "+15550000001", "agent-a"), ("b", "+15550000002", "agent-b")):
        body = {"number": number, "agent_handle": owner}
        w[f"ph_{name}"] = ok(server.api("POST", "/phone/numbers", json=body), 201)["id"]

    received = ["message.received"]
    w["sub_a_mail"] = subscribe(server, receiver.url("/a-mail"), received, mailbox_id=w["mb_a"])
    w["sub_a_phone"] = subscribe(
        server, receiver.url("/a-phone"), ["text.received"], phone_number_id=w["ph_a"]
    )
    w["sub_a_ident"] = subscribe(
        server, receiver.url("/a-ident"), received, agent_identity_id=w["id_a"]
    )
    w["sub_b_mail"] = subscribe(server, receiver.url("/b-mail"), received, mailbox_id=w["mb_b"])
    w["sub_org"] = subscribe(server, receiver.url("/org"), received)
    # disposable ones, for the DELETE rows of the walk
    w["sub_a_del"] = subscribe(server, receiver.url("/a-del"), ["call.ended"], mailbox_id=w["mb_a"])
    w["sub_org_del"] = subscribe(server, receiver.url("/org-del"), ["call.ended"])
    for name, owner in (("a", w["id_a"]), ("b", w["id_b"])):
        pull = {"mode": "pull", "event_types": ["call.ended"], "agent_identity_id": owner}
        w[f"sub_{name}_pull"] = ok(server.api("POST", "/webhooks/subscriptions", json=pull), 201)[
            "id"
        ]
    inbox = {"url": receiver.url("/inbox"), "events": received, "description": "inbox"}
    w["wh"] = ok(server.client.post("/v1/webhooks", json=inbox), 201)["id"]
    w["wh_del"] = ok(
        server.client.post("/v1/webhooks", json=inbox | {"events": ["call.ended"]}), 201
    )["id"]

    events = [
        {"id": "evt_a", "type": "message.received", "mailbox": "a@example.com"},
        {"id": "evt_b", "type": "message.received", "mailbox": "b@example.com"},
        {"id": "evt_a_text", "type": "text.received", "phone_number": "+15550000001"},
        {"id": "evt_org", "type": "message.received"},
    ]
    published = ok(server.api("POST", "/events/batch", json={"events": events}), 202)
    # evt_a: a-mail, a-ident, org, inbox; evt_b: b-mail, org, inbox; evt_a_text: a-phone;
    # evt_org: org, inbox
    assert [e["deliveries"] for e in published["events"]] == [4, 3, 1, 2]

    receiver.bodies["/call"] = '{"action": "answer"}'
    call_cfg = {
        "incoming_call_action": "webhook",
        "incoming_call_webhook_url": receiver.url("/call"),
    }
    ok(server.api("PATCH", f"/phone/numbers/{w['ph_a']}", json=call_cfg))
    call = ok(
        server.api("POST", f"/phone/numbers/{w['ph_a']}/incoming-call", json={"call_id": "call_a"})
    )
    assert call["action"] in ("answer", "reject")

    rows = wait_attempts(server, 11)
    by = {(r["webhook_subscription_id"], r["event_id"]): r["id"] for r in rows}
    assert len(by) == 11, rows
    w["att_a"] = by[(w["sub_a_mail"], "evt_a")]
    w["att_b"] = by[(w["sub_b_mail"], "evt_b")]
    w["att_org"] = by[(w["sub_org"], "evt_a")]
    w["att_call"] = by[(None, "call_a")]
    for r in rows:
        if r["webhook_subscription_id"] is not None:
            assert r["response_status"] == 200, r
    # replays of a window with nothing in it: tasks to read back, nothing sent again
    empty = {"since": SINCE, "until": "2020-01-02T00:00:00Z", "status": "succeeded"}
    for name in ("a_ident", "org"):
        replay = server.api(
            "POST", f"/webhooks/subscriptions/{w['sub_' + name]}/replay", json=empty
        )
        w[f"task_{name}"] = ok(replay, 202)["id"]
    return w


def fill(obj: Any, ctx: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return obj.format(**ctx)
    if isinstance(obj, dict):
        return {k: fill(v, ctx) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fill(v, ctx) for v in obj]
    return obj


ADMIN, AGENT = "admin", "agent"


def sub_body(**owner: str) -> dict[str, Any]:
    return {"url": "https://hooks.example.com/x", "event_types": ["message.sent"], **owner}


INBOX_BODY = {"url": "https://hooks.example.com/i", "events": ["message.read"]}
ACK_BODY = {"results": [{"delivery_id": "d", "lease": "l", "status": 200}]}
RELEASE_BODY = {"leases": [{"delivery_id": "d", "lease": "l"}]}

S = "/api/v1/webhooks/subscriptions"
#: route (method, OpenAPI path) -> calls (who, concrete path, JSON body, expected status).
#: Agent calls target agent-a's things (allowed) and others' things (404 / 403); calls that
#: delete target disposable resources.
ROUTES: dict[tuple[str, str], list[tuple[str, str, Any, int]]] = {
    ("POST", "/api/v1/events"): [
        (ADMIN, "/api/v1/events", {"type": "message.sent"}, 202),
        (AGENT, "/api/v1/events", {"type": "message.sent", "mailbox": "a@example.com"}, 403),
    ],
    ("POST", "/api/v1/events/batch"): [
        (ADMIN, "/api/v1/events/batch", {"events": [{"type": "message.sent"}]}, 202),
        (AGENT, "/api/v1/events/batch", {"events": [{"type": "message.sent"}]}, 403),
    ],
    ("GET", "/api/v1/events/{event_id}"): [
        (ADMIN, "/api/v1/events/evt_b", None, 200),
        (AGENT, "/api/v1/events/evt_a", None, 200),
        (AGENT, "/api/v1/events/evt_a_text", None, 200),
        (AGENT, "/api/v1/events/evt_b", None, 404),
        (AGENT, "/api/v1/events/evt_org", None, 404),
    ],
    ("GET", "/api/v1/events/{event_id}/deliveries"): [
        (ADMIN, "/api/v1/events/evt_b/deliveries", None, 200),
        (AGENT, "/api/v1/events/evt_a/deliveries", None, 200),
        (AGENT, "/api/v1/events/evt_b/deliveries", None, 404),
        (AGENT, "/api/v1/events/evt_org/deliveries", None, 404),
    ],
    ("POST", "/api/v1/identities"): [
        (ADMIN, "/api/v1/identities", {"agent_handle": "new-one"}, 201),
        (AGENT, "/api/v1/identities", {"agent_handle": "new-two"}, 403),
    ],
    ("GET", "/api/v1/identities"): [
        (ADMIN, "/api/v1/identities", None, 200),
        (AGENT, "/api/v1/identities", None, 200),
    ],
    ("GET", "/api/v1/identities/{agent_handle}"): [
        (ADMIN, "/api/v1/identities/agent-b", None, 200),
        (AGENT, "/api/v1/identities/agent-a", None, 200),
        (AGENT, "/api/v1/identities/agent-b", None, 404),
    ],
    ("DELETE", "/api/v1/identities/{agent_handle}"): [
        (AGENT, "/api/v1/identities/agent-a", None, 403),
        (AGENT, "/api/v1/identities/doomed", None, 403),
        (ADMIN, "/api/v1/identities/doomed", None, 204),
    ],
    ("POST", "/api/v1/identities/{agent_handle}/signing-key"): [
        (ADMIN, "/api/v1/identities/agent-b/signing-key", None, 201),
        (AGENT, "/api/v1/identities/agent-a/signing-key", None, 201),
        (AGENT, "/api/v1/identities/agent-b/signing-key", None, 404),
    ],
    ("GET", "/api/v1/identities/{agent_handle}/signing-key"): [
        (ADMIN, "/api/v1/identities/agent-b/signing-key", None, 200),
        (AGENT, "/api/v1/identities/agent-a/signing-key", None, 200),
        (AGENT, "/api/v1/identities/agent-b/signing-key", None, 404),
    ],
    ("POST", "/api/v1/signing-keys"): [
        (ADMIN, "/api/v1/signing-keys", None, 201),
        (AGENT, "/api/v1/signing-keys", None, 403),
    ],
    ("GET", "/api/v1/signing-keys"): [
        (ADMIN, "/api/v1/signing-keys", None, 200),
        (AGENT, "/api/v1/signing-keys", None, 403),
    ],
    ("POST", "/api/v1/mail/mailboxes"): [
        (ADMIN, "/api/v1/mail/mailboxes", {"email_address": "new@example.com"}, 201),
        (
            AGENT,
            "/api/v1/mail/mailboxes",
            {"email_address": "new2@example.com", "agent_handle": "agent-a"},
            403,
        ),
    ],
    ("GET", "/api/v1/mail/mailboxes"): [
        (ADMIN, "/api/v1/mail/mailboxes", None, 200),
        (AGENT, "/api/v1/mail/mailboxes", None, 200),
    ],
    ("GET", "/api/v1/mail/mailboxes/{email_address}"): [
        (ADMIN, "/api/v1/mail/mailboxes/b@example.com", None, 200),
        (AGENT, "/api/v1/mail/mailboxes/a@example.com", None, 200),
        (AGENT, "/api/v1/mail/mailboxes/b@example.com", None, 404),
        (AGENT, "/api/v1/mail/mailboxes/free@example.com", None, 404),
    ],
    ("PATCH", "/api/v1/mail/mailboxes/{email_address}"): [
        (ADMIN, "/api/v1/mail/mailboxes/b@example.com", {"webhook_url": None}, 200),
        (AGENT, "/api/v1/mail/mailboxes/a@example.com", {"webhook_url": None}, 200),
        (AGENT, "/api/v1/mail/mailboxes/b@example.com", {"webhook_url": None}, 404),
        (AGENT, "/api/v1/mail/mailboxes/free@example.com", {"webhook_url": None}, 404),
    ],
    ("POST", "/api/v1/phone/numbers"): [
        (ADMIN, "/api/v1/phone/numbers", {"number": "+15550000009"}, 201),
        (
            AGENT,
            "/api/v1/phone/numbers",
            {"number": "+15550000008", "agent_handle": "agent-a"},
            403,
        ),
    ],
    ("GET", "/api/v1/phone/numbers"): [
        (ADMIN, "/api/v1/phone/numbers", None, 200),
        (AGENT, "/api/v1/phone/numbers", None, 200),
    ],
    ("GET", "/api/v1/phone/numbers/{number_id}"): [
        (ADMIN, "/api/v1/phone/numbers/{ph_b}", None, 200),
        (AGENT, "/api/v1/phone/numbers/{ph_a}", None, 200),
        (AGENT, "/api/v1/phone/numbers/{ph_b}", None, 404),
    ],
    # configuring a number's incoming-call handling is the platform's (admin) business
    ("PATCH", "/api/v1/phone/numbers/{number_id}"): [
        (ADMIN, "/api/v1/phone/numbers/{ph_b}", {"incoming_call_action": "auto_accept"}, 200),
        (AGENT, "/api/v1/phone/numbers/{ph_a}", {"incoming_call_action": "auto_accept"}, 403),
        (AGENT, "/api/v1/phone/numbers/{ph_b}", {"incoming_call_action": "auto_accept"}, 403),
    ],
    ("POST", "/api/v1/phone/numbers/{number_id}/incoming-call"): [
        (ADMIN, "/api/v1/phone/numbers/{ph_b}/incoming-call", {"call_id": "c1"}, 200),
        (AGENT, "/api/v1/phone/numbers/{ph_a}/incoming-call", {"call_id": "c2"}, 403),
    ],
    ("POST", "/api/v1/api-keys"): [
        (ADMIN, "/api/v1/api-keys", {"scope": "agent", "agent_handle": "agent-b"}, 201),
        (AGENT, "/api/v1/api-keys", {"scope": "agent", "agent_handle": "agent-a"}, 403),
        (AGENT, "/api/v1/api-keys", {"scope": "admin"}, 403),
    ],
    ("POST", "/api/v1/portal-links"): [
        (ADMIN, "/api/v1/portal-links", {"agent_handle": "agent-a", "ttl_s": 60}, 201),
        (AGENT, "/api/v1/portal-links", {"agent_handle": "agent-a", "ttl_s": 60}, 403),
    ],
    ("GET", "/api/v1/api-keys"): [
        (ADMIN, "/api/v1/api-keys", None, 200),
        (AGENT, "/api/v1/api-keys", None, 403),
    ],
    ("DELETE", "/api/v1/api-keys/{key_id}"): [
        (AGENT, "/api/v1/api-keys/{spare_key}", None, 403),
        (AGENT, "/api/v1/api-keys/{agent_key}", None, 403),
        (ADMIN, "/api/v1/api-keys/{spare_key}", None, 204),
    ],
    ("POST", S): [
        (ADMIN, S, sub_body(), 201),
        (AGENT, S, sub_body(mailbox_id="{mb_a}"), 201),
        (AGENT, S, sub_body(phone_number_id="{ph_a}"), 201),
        (AGENT, S, sub_body(agent_identity_id="{id_a}"), 201),
        (AGENT, S, sub_body(mailbox_id="{mb_b}"), 403),
        (AGENT, S, sub_body(phone_number_id="{ph_b}"), 403),
        (AGENT, S, sub_body(agent_identity_id="{id_b}"), 403),
        (AGENT, S, sub_body(mailbox_id="{mb_free}"), 403),
        (AGENT, S, sub_body(), 403),
    ],
    ("GET", S): [
        (ADMIN, S, None, 200),
        (AGENT, S, None, 200),
    ],
    ("GET", S + "/{subscription_id}"): [
        (ADMIN, S + "/{sub_b_mail}", None, 200),
        (AGENT, S + "/{sub_a_mail}", None, 200),
        (AGENT, S + "/{sub_a_phone}", None, 200),
        (AGENT, S + "/{sub_a_ident}", None, 200),
        (AGENT, S + "/{sub_b_mail}", None, 404),
        (AGENT, S + "/{sub_org}", None, 404),
        (AGENT, S + "/{wh}", None, 404),
    ],
    ("PATCH", S + "/{subscription_id}"): [
        (ADMIN, S + "/{sub_b_mail}", {"description": "by admin"}, 200),
        (AGENT, S + "/{sub_a_mail}", {"description": "by agent"}, 200),
        (AGENT, S + "/{sub_b_mail}", {"description": "by agent"}, 404),
        (AGENT, S + "/{sub_org}", {"description": "by agent"}, 404),
    ],
    ("DELETE", S + "/{subscription_id}"): [
        (AGENT, S + "/{sub_b_mail}", None, 404),
        (AGENT, S + "/{sub_org_del}", None, 404),
        (AGENT, S + "/{sub_a_del}", None, 204),
        (ADMIN, S + "/{sub_org_del}", None, 204),
    ],
    ("POST", S + "/{subscription_id}/test"): [
        (ADMIN, S + "/{sub_b_mail}/test", {"event_type": "message.received"}, 200),
        (AGENT, S + "/{sub_a_mail}/test", {"event_type": "message.received"}, 200),
        (AGENT, S + "/{sub_b_mail}/test", {"event_type": "message.received"}, 404),
        (AGENT, S + "/{sub_org}/test", {"event_type": "message.received"}, 404),
    ],
    ("GET", S + "/{subscription_id}/secret"): [
        (ADMIN, S + "/{sub_b_mail}/secret", None, 200),
        (AGENT, S + "/{sub_a_mail}/secret", None, 200),
        (AGENT, S + "/{sub_b_mail}/secret", None, 404),
        (AGENT, S + "/{sub_org}/secret", None, 404),
    ],
    ("POST", S + "/{subscription_id}/secret/rotate"): [
        (ADMIN, S + "/{sub_b_mail}/secret/rotate", {"grace_period_s": 60}, 200),
        (AGENT, S + "/{sub_a_mail}/secret/rotate", {"grace_period_s": 60}, 200),
        (AGENT, S + "/{sub_b_mail}/secret/rotate", {"grace_period_s": 60}, 404),
        (AGENT, S + "/{sub_org}/secret/rotate", {"grace_period_s": 60}, 404),
    ],
    ("POST", S + "/{subscription_id}/recover"): [
        (ADMIN, S + "/{sub_b_mail}/recover", {"since": SINCE}, 200),
        (AGENT, S + "/{sub_a_mail}/recover", {"since": SINCE}, 200),
        (AGENT, S + "/{sub_b_mail}/recover", {"since": SINCE}, 404),
        (AGENT, S + "/{sub_org}/recover", {"since": SINCE}, 404),
    ],
    ("POST", S + "/{subscription_id}/replay"): [
        (ADMIN, S + "/{sub_b_mail}/replay", {"since": SINCE, "status": "failed"}, 202),
        (AGENT, S + "/{sub_a_mail}/replay", {"since": SINCE, "status": "failed"}, 202),
        (AGENT, S + "/{sub_b_mail}/replay", {"since": SINCE, "status": "failed"}, 404),
        (AGENT, S + "/{sub_org}/replay", {"since": SINCE, "status": "failed"}, 404),
    ],
    ("GET", "/api/v1/tasks"): [
        (ADMIN, "/api/v1/tasks", None, 200),
        (AGENT, "/api/v1/tasks?subscription_id={sub_a_ident}", None, 200),
    ],
    ("GET", "/api/v1/tasks/{task_id}"): [
        (ADMIN, "/api/v1/tasks/{task_org}", None, 200),
        (AGENT, "/api/v1/tasks/{task_a_ident}", None, 200),
        (AGENT, "/api/v1/tasks/{task_org}", None, 404),
    ],
    ("POST", S + "/{subscription_id}/pull"): [
        (ADMIN, S + "/{sub_b_pull}/pull", {"max": 1}, 200),
        (AGENT, S + "/{sub_a_pull}/pull", {"max": 1}, 200),
        (AGENT, S + "/{sub_b_pull}/pull", {"max": 1}, 404),
        (AGENT, S + "/{sub_org}/pull", {"max": 1}, 404),
    ],
    ("POST", S + "/{subscription_id}/ack"): [
        (ADMIN, S + "/{sub_b_pull}/ack", ACK_BODY, 200),
        (AGENT, S + "/{sub_a_pull}/ack", ACK_BODY, 200),
        (AGENT, S + "/{sub_b_pull}/ack", ACK_BODY, 404),
    ],
    ("POST", S + "/{subscription_id}/release"): [
        (ADMIN, S + "/{sub_b_pull}/release", RELEASE_BODY, 204),
        (AGENT, S + "/{sub_a_pull}/release", RELEASE_BODY, 204),
        (AGENT, S + "/{sub_b_pull}/release", RELEASE_BODY, 404),
    ],
    ("GET", "/api/v1/webhooks/deliveries"): [
        (ADMIN, "/api/v1/webhooks/deliveries", None, 200),
        (AGENT, "/api/v1/webhooks/deliveries", None, 200),
    ],
    ("POST", "/api/v1/webhooks/deliveries/{attempt_id}/replay"): [
        (ADMIN, "/api/v1/webhooks/deliveries/{att_b}/replay", None, 200),
        (AGENT, "/api/v1/webhooks/deliveries/{att_a}/replay", None, 200),
        (AGENT, "/api/v1/webhooks/deliveries/{att_b}/replay", None, 404),
        (AGENT, "/api/v1/webhooks/deliveries/{att_org}/replay", None, 404),
    ],
    ("GET", "/api/v1/webhooks/catalog"): [
        (ADMIN, "/api/v1/webhooks/catalog", None, 200),
        (AGENT, "/api/v1/webhooks/catalog", None, 200),
    ],
    # the Inbox-style API: its webhooks are organization-wide, so agent keys neither make nor
    # see them
    ("POST", "/v1/webhooks"): [
        (ADMIN, "/v1/webhooks", INBOX_BODY, 201),
        (AGENT, "/v1/webhooks", INBOX_BODY, 403),
    ],
    ("GET", "/v1/webhooks"): [
        (ADMIN, "/v1/webhooks", None, 200),
        (AGENT, "/v1/webhooks", None, 200),
    ],
    ("GET", "/v1/webhooks/{webhook_id}"): [
        (ADMIN, "/v1/webhooks/{wh}", None, 200),
        (AGENT, "/v1/webhooks/{wh}", None, 404),
        (AGENT, "/v1/webhooks/{sub_b_mail}", None, 404),
    ],
    ("PUT", "/v1/webhooks/{webhook_id}"): [
        (ADMIN, "/v1/webhooks/{wh}", INBOX_BODY, 200),
        (AGENT, "/v1/webhooks/{wh}", INBOX_BODY, 404),
        (AGENT, "/v1/webhooks/{sub_b_mail}", INBOX_BODY, 404),
    ],
    ("DELETE", "/v1/webhooks/{webhook_id}"): [
        (AGENT, "/v1/webhooks/{wh_del}", None, 404),
        (ADMIN, "/v1/webhooks/{wh_del}", None, 204),
    ],
    ("POST", "/v1/webhooks/test"): [
        (ADMIN, "/v1/webhooks/test", {"webhook_id": "{wh}", "event_type": "message.read"}, 200),
        (AGENT, "/v1/webhooks/test", {"webhook_id": "{wh}", "event_type": "message.read"}, 404),
        (
            AGENT,
            "/v1/webhooks/test",
            {"webhook_id": "{sub_b_mail}", "event_type": "message.read"},
            404,
        ),
    ],
    ("GET", "/v1/webhooks/{webhook_id}/logs"): [
        (ADMIN, "/v1/webhooks/{wh}/logs", None, 200),
        (AGENT, "/v1/webhooks/{wh}/logs", None, 404),
        (AGENT, "/v1/webhooks/{sub_b_mail}/logs", None, 404),
    ],
    # operational endpoints: no key needed, any key accepted
    ("GET", "/healthz"): [(ADMIN, "/healthz", None, 200), (AGENT, "/healthz", None, 200)],
    ("GET", "/readyz"): [(ADMIN, "/readyz", None, 200), (AGENT, "/readyz", None, 200)],
    ("GET", "/metrics"): [(ADMIN, "/metrics", None, 200), (AGENT, "/metrics", None, 200)],
    ("GET", "/docs"): [(ADMIN, "/docs", None, 200), (AGENT, "/docs", None, 200)],
    ("GET", "/openapi.json"): [
        (ADMIN, "/openapi.json", None, 200),
        (AGENT, "/openapi.json", None, 200),
    ],
}
PUBLIC = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}
#: served by FastAPI itself, so not listed inside the OpenAPI document
NOT_IN_OPENAPI = {("GET", "/docs"), ("GET", "/openapi.json")}


def call(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if body is None:
        return client.request(method, path)
    return client.request(method, path, json=body)


def test_every_route_with_both_kinds_of_key(
    server: Server, receiver: Receiver, as_key: KeyClient
) -> None:
    openapi = ok(httpx.get(server.base + "/openapi.json"))
    documented = {
        (method.upper(), path) for path, ops in openapi["paths"].items() for method in ops
    }
    stale = set(ROUTES) - documented - NOT_IN_OPENAPI
    assert documented | NOT_IN_OPENAPI == set(ROUTES), (
        f"routes missing from the table: {sorted(documented - set(ROUTES))}; "
        f"table rows for routes that do not exist: {sorted(stale)}"
    )
    for route, calls in ROUTES.items():
        assert {who for who, *_ in calls} == {ADMIN, AGENT}, route

    w = build_world(server, receiver)
    agent = new_key(server, "agent", "agent-a")
    assert agent["scope"] == "agent" and agent["agent_identity_id"] == w["id_a"]
    w["agent_key"] = agent["id"]
    w["spare_key"] = new_key(server, "admin")["id"]
    revoked_agent = new_key(server, "agent", "agent-a")
    revoked_admin = new_key(server, "admin")
    for k in (revoked_agent, revoked_admin):
        ok(server.api("DELETE", f"/api-keys/{k['id']}"), 204)

    clients = {ADMIN: server.client, AGENT: as_key(agent["key"])}
    strangers = {
        "no key": as_key(None),
        "revoked agent key": as_key(revoked_agent["key"]),
        "revoked admin key (Bearer)": as_key(revoked_admin["key"], bearer=True),
        "unknown key": as_key("hl_" + "0" * 40),
    }
    failures: list[str] = []
    for (method, template), calls in ROUTES.items():
        _, first_path, first_body, _ = calls[0]
        for label, client in strangers.items():
            resp = call(client, method, fill(first_path, w), fill(first_body, w))
            want = 200 if template in PUBLIC else 401
            if resp.status_code != want:
                failures.append(f"{label}: {method} {template} -> {resp.status_code}, want {want}")
            elif want == 401 and not isinstance(resp.json().get("detail"), str):
                failures.append(f"{label}: {method} {template}: 401 without a detail")
        for who, path, body, want in calls:
            resp = call(clients[who], method, fill(path, w), fill(body, w))
            if resp.status_code != want:
                failures.append(
                    f"{who}: {method} {fill(path, w)} -> {resp.status_code}, want {want}: "
                    f"{resp.text[:200]}"
                )
            elif want >= 400 and "detail" not in resp.json():
                failures.append(f"{who}: {method} {path}: error without a detail")
    assert not failures, "\n".join(failures)

    # what the destructive rows did, and did not do
    assert server.api("GET", "/identities/doomed").status_code == 404
    assert server.api("GET", "/identities/agent-a").status_code == 200
    assert server.api("GET", f"/webhooks/subscriptions/{w['sub_a_del']}").status_code == 404
    assert server.api("GET", f"/webhooks/subscriptions/{w['sub_b_mail']}").status_code == 200
    assert ok(server.api("GET", f"/webhooks/subscriptions/{w['sub_b_mail']}"))["description"] == (
        "by admin"
    )
    listed = {k["id"]: k for k in ok(server.api("GET", "/api-keys"))["api_keys"]}
    assert listed[w["agent_key"]]["revoked_at"] is None
    assert listed[w["spare_key"]]["revoked_at"] is not None
    assert server.api("GET", f"/webhooks/subscriptions/{w['wh_del']}").status_code == 404


def test_agent_key_sees_and_manages_only_its_own(
    server: Server, receiver: Receiver, as_key: KeyClient
) -> None:
    w = build_world(server, receiver)
    a = as_key(new_key(server, "agent", "agent-a")["key"])
    b = as_key(new_key(server, "agent", "agent-b")["key"])
    own_subs = {
        w["sub_a_mail"], w["sub_a_phone"], w["sub_a_ident"], w["sub_a_del"], w["sub_a_pull"],
    }  # fmt: skip

    def sub_ids(client: httpx.Client, **params: str) -> set[str]:
        resp = client.get(S, params=params)
        return {s["id"] for s in ok(resp)["subscriptions"]}

    assert sub_ids(a) == own_subs
    assert sub_ids(a, mailbox_id=w["mb_a"]) == {w["sub_a_mail"], w["sub_a_del"]}
    assert sub_ids(a, mailbox_id=w["mb_b"]) == set()
    assert sub_ids(a, event_type="message.received") == {w["sub_a_mail"], w["sub_a_ident"]}
    assert sub_ids(b) == {w["sub_b_mail"], w["sub_b_pull"]}
    assert len(sub_ids(server.client)) == 11, "the admin key sees every subscription"

    assert [i["agent_handle"] for i in ok(a.get("/api/v1/identities"))["identities"]] == ["agent-a"]
    mailboxes = ok(a.get("/api/v1/mail/mailboxes"))["mailboxes"]
    assert [m["email_address"] for m in mailboxes] == ["a@example.com"]
    numbers = ok(a.get("/api/v1/phone/numbers"))["phone_numbers"]
    assert [p["id"] for p in numbers] == [w["ph_a"]]

    # the delivery log: only a's subscriptions and a's number's incoming call
    def logged(client: httpx.Client, **params: str) -> set[tuple[str | None, str]]:
        rows = ok(client.get("/api/v1/webhooks/deliveries", params=params))["deliveries"]
        return {(r["webhook_subscription_id"], r["event_id"]) for r in rows}

    a_log = {
        (w["sub_a_mail"], "evt_a"),
        (w["sub_a_ident"], "evt_a"),
        (w["sub_a_phone"], "evt_a_text"),
        (None, "call_a"),
    }
    assert logged(a) == a_log
    assert logged(a, phone_number_id=w["ph_a"]) == {
        (w["sub_a_phone"], "evt_a_text"),
        (None, "call_a"),
    }
    assert logged(a, subscription_id=w["sub_b_mail"]) == set()
    assert logged(a, phone_number_id=w["ph_b"]) == set()
    assert logged(b) == {(w["sub_b_mail"], "evt_b")}
    assert len(logged(server.client)) == 11

    # an event of a's mailbox: a sees the event and only its own deliveries of it
    event = ok(a.get("/api/v1/events/evt_a/deliveries"))
    assert event["event"]["id"] == "evt_a"
    assert {d["webhook_subscription_id"] for d in event["deliveries"]} == {
        w["sub_a_mail"], w["sub_a_ident"],
    }  # fmt: skip
    assert {x["webhook_subscription_id"] for x in event["attempts"]} == {
        w["sub_a_mail"], w["sub_a_ident"],
    }  # fmt: skip
    everything = ok(server.api("GET", "/events/evt_a/deliveries"))
    assert len(everything["deliveries"]) == 4, "the admin key sees every delivery of the event"
    assert b.get("/api/v1/events/evt_a").status_code == 404

    # change, test and replay its own
    patched = ok(a.patch(f"{S}/{w['sub_a_mail']}", json={"event_types": ["message.sent"]}))
    assert patched["event_types"] == ["message.sent"]
    assert b.patch(f"{S}/{w['sub_a_mail']}", json={"enabled": False}).status_code == 404
    assert ok(server.api("GET", f"/webhooks/subscriptions/{w['sub_a_mail']}"))["enabled"] is True

    sent = ok(a.post(f"{S}/{w['sub_a_phone']}/test", json={"event_type": "text.received"}))
    assert sent["response_status"] == 200 and sent["webhook_subscription_id"] == w["sub_a_phone"]
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/a-phone"]) == 2)
    assert (
        b.post(f"{S}/{w['sub_a_phone']}/test", json={"event_type": "text.received"}).status_code
        == 404
    )

    att_ident = next(
        r["id"]
        for r in ok(a.get("/api/v1/webhooks/deliveries"))["deliveries"]
        if r["webhook_subscription_id"] == w["sub_a_ident"]
    )
    replayed = ok(a.post(f"/api/v1/webhooks/deliveries/{att_ident}/replay"))
    assert replayed["is_replay"] is True and replayed["event_id"] == "evt_a"
    assert replayed["response_status"] == 200
    assert b.post(f"/api/v1/webhooks/deliveries/{att_ident}/replay").status_code == 404

    # a's own incoming call is in its log, and not replayable (422), like for the admin
    call_replay = a.post(f"/api/v1/webhooks/deliveries/{w['att_call']}/replay")
    assert call_replay.status_code == 422, call_replay.text
    assert server.api("POST", f"/webhooks/deliveries/{w['att_call']}/replay").status_code == 422
    assert b.post(f"/api/v1/webhooks/deliveries/{w['att_call']}/replay").status_code == 404

    # once a's subscription is deleted, a's replay is a conflict; b still may not know it
    assert a.delete(f"{S}/{w['sub_a_ident']}").status_code == 204
    gone = a.post(f"/api/v1/webhooks/deliveries/{att_ident}/replay")
    assert gone.status_code == 409, gone.text
    stranger = b.post(f"/api/v1/webhooks/deliveries/{att_ident}/replay")
    assert stranger.status_code == 404, stranger.text
    assert (w["sub_a_ident"], "evt_a") in logged(a), "a deleted subscription's log stays"
    assert (w["sub_a_ident"], "evt_a") not in logged(b)

    # its mailbox's webhook URL (a subscription owned by the mailbox) it may set
    box = ok(
        a.patch("/api/v1/mail/mailboxes/a@example.com", json={"webhook_url": receiver.url("/box")})
    )
    assert box["webhook_url"] == receiver.url("/box")
    assert (
        b.patch(
            "/api/v1/mail/mailboxes/a@example.com", json={"webhook_url": receiver.url("/x")}
        ).status_code
        == 404
    )
    assert len(sub_ids(a)) == 5, "sub_a_ident deleted, the mailbox webhook added"

    # Bearer works as well as X-API-Key
    bearer = httpx.get(
        server.base + "/api/v1/mail/mailboxes",
        headers={"Authorization": f"Bearer {a.headers['X-API-Key']}"},
    )
    assert [m["email_address"] for m in ok(bearer)["mailboxes"]] == ["a@example.com"]


def test_api_keys_create_list_revoke(server: Server, as_key: KeyClient) -> None:
    ok(server.api("POST", "/identities", json={"agent_handle": "agent-a"}), 201)
    ident = ok(server.api("GET", "/identities/agent-a"))
    agent = new_key(server, "agent", "agent-a")
    admin = new_key(server, "admin")
    named = ok(server.api("POST", "/api-keys", json={"scope": "admin", "name": "ci"}), 201)
    assert agent["scope"] == "agent" and agent["agent_identity_id"] == ident["id"]
    assert admin["scope"] == "admin" and admin["agent_identity_id"] is None
    assert agent["created_at"].endswith("Z") and agent["key"] != admin["key"]

    listing = server.api("GET", "/api-keys")
    keys = {k["id"]: k for k in ok(listing)["api_keys"]}
    assert {agent["id"], admin["id"], named["id"]} <= set(keys)
    for created in (agent, admin, named):
        row = keys[created["id"]]
        assert set(row) == API_KEY_LISTED_FIELDS
        assert row["prefix"] == created["key"][: len(row["prefix"])]
        assert 4 <= len(row["prefix"]) < len(created["key"]) - 16
        assert created["key"] not in listing.text, "a key is shown once, at creation"
        assert row["revoked_at"] is None
    assert keys[named["id"]]["name"] == "ci"
    assert ADMIN_KEY not in listing.text

    # a new admin key is a full admin key; the agent key is an agent key
    new_admin = as_key(admin["key"])
    ok(new_admin.post("/api/v1/identities", json={"agent_handle": "by-new-admin"}), 201)
    agent_client = as_key(agent["key"])
    assert agent_client.post("/api/v1/identities", json={"agent_handle": "x"}).status_code == 403
    ok(agent_client.get("/api/v1/identities/agent-a"))

    # revoked at once, for either kind
    ok(server.api("DELETE", f"/api-keys/{agent['id']}"), 204)
    refused = agent_client.get("/api/v1/identities/agent-a")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key is unknown or revoked"
    ok(server.api("DELETE", f"/api-keys/{admin['id']}"), 204)
    assert new_admin.get("/api/v1/identities").status_code == 401
    keys = {k["id"]: k for k in ok(server.api("GET", "/api-keys"))["api_keys"]}
    assert keys[agent["id"]]["revoked_at"] is not None
    assert keys[named["id"]]["revoked_at"] is None
    assert as_key(named["key"]).get("/api/v1/api-keys").status_code == 200
    missing = server.api("DELETE", "/api-keys/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404

    # validation names the field
    for body, field in (
        ({"scope": "agent"}, "agent_handle"),
        ({"scope": "agent", "agent_handle": "nobody"}, "agent_handle"),
        ({"scope": "admin", "agent_handle": "agent-a"}, "agent_handle"),
        ({"scope": "root"}, "scope"),
    ):
        resp = server.api("POST", "/api-keys", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"] == field, resp.json()
