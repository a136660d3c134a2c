"""The Inbox-style API behaves as Inbox's users expect: GET one webhook, PUT that keeps what it
does not name, test sends with Inbox's payload fields, and errors that speak of webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Receiver, Server

WEBHOOK_FIELDS = {"id", "url", "events", "description", "enabled", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def served(module_launcher: Launcher) -> Server:
    # one server for the module: each test reads back only the webhooks it made, and no test
    # publishes an event another test's webhooks could take
    return module_launcher.serve(f"sqlite:///{module_launcher.tmp}/hookline.db")


@pytest.fixture
def inbox(served: Server) -> Iterator[httpx.Client]:
    client = httpx.Client(
        base_url=served.base,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    )
    yield client
    client.close()


def _create(inbox: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = inbox.post("/v1/webhooks", json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def test_get_one_webhook(served: Server, inbox: httpx.Client) -> None:
    hook = _create(
        inbox, url="https://hooks.example.com/a", events=["message.read"], description="a"
    )
    got = inbox.get(f"/v1/webhooks/{hook['id']}")
    assert got.status_code == 200, got.text
    assert got.json() == {k: hook[k] for k in WEBHOOK_FIELDS}, "the webhook, without its secret"
    # a subscription of /api/v1 is not a webhook of this API
    native = served.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": "https://hooks.example.com/n", "event_types": ["message.read"]},
    ).json()
    for missing in ("wh_nope", native["id"]):
        resp = inbox.get(f"/v1/webhooks/{missing}")
        assert resp.status_code == 404
        assert resp.json() == {"detail": f"webhook {missing!r} not found"}


def test_put_keeps_the_fields_it_does_not_name(served: Server, inbox: httpx.Client) -> None:
    hook = _create(
        inbox,
        url="https://hooks.example.com/keep",
        events=["message.delivered", "message.read"],
        description="Production webhook endpoint",
    )
    put = inbox.put(f"/v1/webhooks/{hook['id']}", json={"events": ["message.failed"]})
    assert put.status_code == 200, put.text
    assert put.json()["events"] == ["message.failed"]
    assert put.json()["url"] == "https://hooks.example.com/keep"
    assert put.json()["description"] == "Production webhook endpoint"

    put = inbox.put(f"/v1/webhooks/{hook['id']}", json={"url": "https://hooks.example.com/moved"})
    assert put.status_code == 200, put.text
    assert put.json()["events"] == ["message.failed"], "events kept"
    assert put.json()["description"] == "Production webhook endpoint"

    put = inbox.put(f"/v1/webhooks/{hook['id']}", json={"description": None})
    assert put.status_code == 200 and put.json()["description"] is None
    assert inbox.get(f"/v1/webhooks/{hook['id']}").json() == put.json()

    bodies: tuple[dict[str, Any], ...] = ({"url": None}, {"events": None}, {"events": []})
    for body in bodies:
        resp = inbox.put(f"/v1/webhooks/{hook['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert [e["field"] for e in resp.json()["errors"]] == list(body), resp.json()
    secret = served.api("GET", f"/webhooks/subscriptions/{hook['id']}/secret").json()["secret"]
    assert secret == hook["secret"], "PUT leaves the secret alone"


def test_test_sends_carry_inboxs_fields(inbox: httpx.Client, receiver: Receiver) -> None:
    hook = _create(inbox, url=receiver.url("/inbox"), events=["message.delivered", "message.read"])
    want = {
        "message.delivered": {"message_id", "to", "delivered_at", "device_id"},
        "message.read": {"message_id", "to", "read_at", "device_id"},
    }
    for event_type, fields in want.items():
        sent = inbox.post(
            "/v1/webhooks/test", json={"webhook_id": hook["id"], "event_type": event_type}
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["response_status"] == 200
        body = json.loads(receiver.at("/inbox")[-1].body)
        assert set(body) == {"id", "type", "created_at", "data"}
        assert body["type"] == event_type
        assert fields <= set(body["data"]), (event_type, body["data"])
        assert body["data"]["to"].startswith("+")


def test_errors_speak_of_webhooks(served: Server, inbox: httpx.Client) -> None:
    hook = _create(inbox, url="https://hooks.example.com/w", events=["message.read"])
    gone = "0b7c5a52-5f0e-4a8e-9a51-2f4d3b0c9e11"
    for method, path, body in (
        ("GET", f"/{gone}", None),
        ("PUT", f"/{gone}", {"events": ["message.read"]}),
        ("DELETE", f"/{gone}", None),
        ("GET", f"/{gone}/logs", None),
        ("POST", "/test", {"webhook_id": gone, "event_type": "message.read"}),
    ):
        resp = inbox.request(method, "/v1/webhooks" + path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["detail"] == f"webhook {gone!r} not found", (method, path)

    refusals = [
        inbox.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": ["x.nope"]}
        ),
        inbox.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/x", "events": ["phone.incoming_call"]},
        ),
        inbox.put(f"/v1/webhooks/{hook['id']}", json={"events": ["message.read", "message.read"]}),
        inbox.post(
            "/v1/webhooks/test",
            json={"webhook_id": hook["id"], "event_type": "phone.incoming_call"},
        ),
    ]
    for resp in refusals:
        assert resp.status_code == 422, resp.text
        assert "subscription" not in resp.text, resp.text
        fields = [e["field"] for e in resp.json()["errors"]]
        assert all(not f.startswith("event_types") for f in fields), fields

    # an agent key may not make organization-wide webhooks: said in this API's words
    served.api("POST", "/identities", json={"agent_handle": "agent-w"})
    key = served.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "agent-w"})
    agent = httpx.post(
        served.base + "/v1/webhooks",
        headers={"Authorization": f"Bearer {key.json()['key']}"},
        json={"url": "https://hooks.example.com/a", "events": ["message.read"]},
    )
    assert agent.status_code == 403
    assert "webhook" in agent.json()["detail"] and "subscription" not in agent.json()["detail"]
