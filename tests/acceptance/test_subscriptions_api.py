"""The subscriptions API: wire fields, filters, validation, auth, 404s."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Server

SUB_FIELDS = {
    "id", "organization_id", "mailbox_id", "phone_number_id", "agent_identity_id",
    "owner_identity_id", "url", "event_types", "status", "created_at", "updated_at",
    "has_auth_token", "auth_token", "name", "description", "enabled", "disabled_reason",
    "profile", "headers", "filters", "retry_schedule", "max_in_flight", "rate_limit_per_second",
    "source", "mode",
}  # fmt: skip


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: each test makes owners of its own (``owners``) and its
    subscriptions are deleted when it ends, so a list shows only that test's."""
    return tidy_shared_server


def owners(server: Server) -> dict[str, str]:
    """An identity with a mailbox and a phone number, named afresh for each call."""
    tag = secrets.token_hex(3)
    handle = f"sales-agent-{tag}"
    ident = server.api("POST", "/identities", json={"agent_handle": handle})
    assert ident.status_code == 201, ident.text
    assert set(ident.json()) == {"id", "agent_handle", "organization_id", "created_at"}
    mailbox = server.api(
        "POST",
        "/mail/mailboxes",
        json={"email_address": f"Sales-{tag}@Example.com", "agent_handle": handle},
    )
    assert mailbox.status_code == 201, mailbox.text
    assert mailbox.json()["email_address"] == f"sales-{tag}@example.com"
    assert mailbox.json()["agent_identity_id"] == ident.json()["id"]
    assert mailbox.json()["webhook_url"] is None
    phone = server.api(
        "POST",
        "/phone/numbers",
        json={"number": f"+1555{int(tag, 16) % 10_000_000:07d}", "agent_handle": handle},
    )
    assert phone.status_code == 201, phone.text
    assert set(phone.json()) >= {
        "id",
        "number",
        "agent_identity_id",
        "incoming_call_action",
        "incoming_call_webhook_url",
    }
    return {
        "identity": ident.json()["id"],
        "mailbox": mailbox.json()["id"],
        "phone": phone.json()["id"],
    }


def create(server: Server, **body: Any) -> httpx.Response:
    body.setdefault("url", "https://hooks.example.com/in")
    body.setdefault("event_types", ["message.received"])
    return server.api("POST", "/webhooks/subscriptions", json=body)


def test_crud_with_exact_wire_fields(server: Server) -> None:
    o = owners(server)
    resp = create(
        server,
        mailbox_id=o["mailbox"],
        event_types=["message.received", "message.bounced"],
        name="CRM",
        description="bounces to the CRM",
        headers={"X-Api-Key": "k"},
        filters={"domains": ["Example.COM"]},
        retry_schedule=[0, 10],
        max_in_flight=4,
        rate_limit_per_second=2.5,
        auth_token="secret-token",
    )
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert set(sub) == SUB_FIELDS | {"signing_key", "secret"}
    assert sub["mailbox_id"] == o["mailbox"]
    assert sub["owner_identity_id"] == o["identity"]
    assert sub["status"] == "active" and sub["enabled"] is True
    assert sub["filters"] == {"domains": ["example.com"]}
    assert sub["has_auth_token"] is True and sub["auth_token"] is None
    assert sub["created_at"].endswith("Z")

    got = server.api("GET", f"/webhooks/subscriptions/{sub['id']}")
    assert got.status_code == 200
    assert set(got.json()) == SUB_FIELDS
    assert dict(got.json().items()) == {k: sub[k] for k in SUB_FIELDS}

    patched = server.api(
        "PATCH",
        f"/webhooks/subscriptions/{sub['id']}",
        json={
            "url": "https://hooks.example.com/v2",
            "event_types": ["message.sent"],
            "enabled": False,
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["url"] == "https://hooks.example.com/v2"
    assert patched.json()["event_types"] == ["message.sent"]
    assert patched.json()["status"] == "disabled"
    assert patched.json()["name"] == "CRM", "fields not sent are unchanged"

    owner_change = server.api(
        "PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"phone_number_id": o["phone"]}
    )
    assert owner_change.status_code == 422
    assert "phone_number_id" in owner_change.json()["detail"]

    assert server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}").status_code == 204
    assert server.api("GET", f"/webhooks/subscriptions/{sub['id']}").status_code == 404
    assert server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}").status_code == 404


def test_list_filters(server: Server) -> None:
    o = owners(server)
    by_mailbox = create(server, mailbox_id=o["mailbox"], event_types=["message.received"]).json()
    by_phone = create(server, phone_number_id=o["phone"], event_types=["text.received"]).json()
    by_ident = create(server, agent_identity_id=o["identity"], event_types=["message.read"]).json()
    org_wide = create(
        server, url="https://other.example.com/x", event_types=["message.received"]
    ).json()

    def ids(**params: str) -> set[str]:
        resp = server.api("GET", "/webhooks/subscriptions", params=params)
        assert resp.status_code == 200, resp.text
        return {s["id"] for s in resp.json()["subscriptions"]}

    assert ids() == {by_mailbox["id"], by_phone["id"], by_ident["id"], org_wide["id"]}
    assert ids(mailbox_id=o["mailbox"]) == {by_mailbox["id"]}
    assert ids(phone_number_id=o["phone"]) == {by_phone["id"]}
    assert ids(agent_identity_id=o["identity"]) == {by_ident["id"]}
    assert ids(url="https://other.example.com/x") == {org_wide["id"]}
    assert ids(event_type="message.received") == {by_mailbox["id"], org_wide["id"]}
    assert ids(event_type="message.read") == {by_ident["id"]}
    both = server.api(
        "GET",
        "/webhooks/subscriptions",
        params={"mailbox_id": o["mailbox"], "phone_number_id": o["phone"]},
    )
    assert both.status_code == 422
    assert "phone_number_id" in both.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/in"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/in"}, "url"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["message.sent", "message.sent"]}, "event_types[1]"),
        ({"event_types": ["message.nope"]}, "event_types[0]"),
        ({"event_types": ["phone.incoming_call"]}, "event_types[0]"),
        ({"profile": "soap"}, "profile"),
        ({"headers": {"Content-Type": "text/plain"}}, "headers.Content-Type"),
        ({"retry_schedule": [30, 0]}, "retry_schedule"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"filters": {"domains": ["not a domain"]}}, "filters.domains[0]"),
        ({"surprise": 1}, "surprise"),
        ({"event_types": "message.sent"}, "event_types"),
    ],
)
def test_validation_names_the_field(
    shared_server: Server, body: dict[str, Any], field: str
) -> None:
    resp = create(shared_server, **body)
    assert resp.status_code == 422, resp.text
    fields = [e["field"] for e in resp.json()["errors"]]
    assert field in fields, resp.json()
    assert isinstance(resp.json()["detail"], str)


def test_owner_rules(server: Server) -> None:
    o = owners(server)
    two = create(server, mailbox_id=o["mailbox"], phone_number_id=o["phone"])
    assert two.status_code == 422
    assert "at most one owner" in two.json()["detail"]
    unknown = create(server, mailbox_id="00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "mailbox_id"


def test_http_allowed_only_when_configured(launcher: Any, database_url: str) -> None:
    strict = launcher.serve(database_url, HOOKLINE_ALLOW_HTTP="false")
    resp = create(strict, url="http://hooks.example.com/in")
    assert resp.status_code == 422
    assert create(strict, url="https://hooks.example.com/in").status_code == 201


def test_auth_and_unknown_ids(shared_server: Server) -> None:
    server = shared_server
    base = server.base + "/api/v1/webhooks/subscriptions"
    assert httpx.get(base).status_code == 401
    assert httpx.get(base, headers={"X-API-Key": "hl_wrong"}).status_code == 401
    assert httpx.get(base, headers={"Authorization": "Bearer hl_wrong"}).status_code == 401
    assert httpx.get(base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    assert httpx.get(base, headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    missing = "11111111-1111-4111-8111-111111111111"
    assert server.api("GET", f"/webhooks/subscriptions/{missing}").status_code == 404
    assert (
        server.api("PATCH", f"/webhooks/subscriptions/{missing}", json={"name": "x"}).status_code
        == 404
    )
    assert server.api("GET", "/events/evt_missing").status_code == 404
    assert server.api("GET", "/identities/nobody").status_code == 404


def test_bad_bodies_get_4xx_not_500(shared_server: Server) -> None:
    server = shared_server  # makes only the identity "twin", which no other test makes
    raw = server.client.post(
        "/api/v1/webhooks/subscriptions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert raw.status_code == 422
    huge = server.client.post(
        "/api/v1/events",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    dup = server.api("POST", "/identities", json={"agent_handle": "twin"})
    assert dup.status_code == 201
    again = server.api("POST", "/identities", json={"agent_handle": "twin"})
    assert again.status_code == 409
    assert server.api("POST", "/mail/mailboxes", json={"email_address": "nope"}).status_code == 422
    assert server.api("POST", "/phone/numbers", json={"number": "5551234"}).status_code == 422


LISTS = [
    "/identities",
    "/mail/mailboxes",
    "/phone/numbers",
    "/webhooks/subscriptions",
    "/webhooks/deliveries",
]


@pytest.mark.parametrize("path", LISTS)
def test_list_offsets_are_bounded_and_named_when_refused(shared_server: Server, path: str) -> None:
    # an offset past the databases' 64-bit integers was a 500 (found by schemathesis)
    for offset in (2**63, 10**22, 1_000_000_001):
        resp = shared_server.api("GET", path, params={"offset": offset})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "offset"
    largest = shared_server.api("GET", path, params={"offset": 1_000_000_000})
    assert largest.status_code == 200, largest.text
    assert [v for v in largest.json().values() if isinstance(v, list)] == [[]]
