"""Catalog, test sends, replay and recover."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: each test reads the log of its own subscription only, which is
    deleted when it ends."""
    return tidy_shared_server


def make_sub(server: Server, url: str, **extra: Any) -> dict[str, Any]:
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": url, "event_types": ["message.bounced"], **extra},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def logged_attempts(server: Server, n: int, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        rows = list(server.api("GET", "/webhooks/deliveries", params=params).json()["deliveries"])
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_catalog_lists_every_type_with_example(server: Server) -> None:
    resp = server.api("GET", "/webhooks/catalog")
    assert resp.status_code == 200
    types = {t["type"]: t for t in resp.json()["event_types"]}
    expected = {
        "message.received", "message.sent", "message.forwarded", "message.delivered",
        "message.bounced", "message.failed", "message.read", "message.action", "message.opened",
        "message.clicked", "subscription.changed", "text.received", "text.sent",
        "text.delivered", "text.delivery_failed", "call.ended", "phone.incoming_call",
        "subscription.disabled",
    }  # fmt: skip
    assert set(types) == expected
    for t in types.values():
        assert t["description"] and isinstance(t["example"], dict) and t["example"]
    assert types["phone.incoming_call"]["subscribable"] is False


def test_test_send_delivers_the_example_signed_now(server: Server, receiver: Receiver) -> None:
    sub = make_sub(server, receiver.url("/t"), event_types=["message.bounced", "message.read"])
    catalog = {t["type"]: t for t in server.api("GET", "/webhooks/catalog").json()["event_types"]}
    resp = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/test", json={"event_type": "message.read"}
    )
    assert resp.status_code == 200, resp.text
    logged = resp.json()
    assert logged["response_status"] == 200 and logged["success"] is True
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1, timeout_s=2)
    payload = Webhook(sub["secret"]).verify(req.body, req.headers)
    assert payload["type"] == "message.read"
    assert payload["data"] == catalog["message.read"]["example"]
    assert logged["event_id"] == payload["id"]
    listed = server.api("GET", "/webhooks/deliveries", params={"subscription_id": sub["id"]}).json()
    assert [a["id"] for a in listed["deliveries"]] == [logged["id"]]
    bad = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/test", json={"event_type": "nope"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "event_type"
    # a type the subscription does not take is not sent (it could not be replayed)
    untaken = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/test", json={"event_type": "message.sent"}
    )
    assert untaken.status_code == 422, untaken.text
    assert untaken.json()["errors"][0]["field"] == "event_type"
    assert "message.sent" in untaken.json()["detail"]
    listed = server.api("GET", "/webhooks/deliveries", params={"subscription_id": sub["id"]}).json()
    assert [a["id"] for a in listed["deliveries"]] == [logged["id"]], "nothing was logged"


def test_replay_same_event_fresh_signature(server: Server, receiver: Receiver) -> None:
    sub = make_sub(server, receiver.url("/r"), retry_schedule=[0])
    server.api(
        "POST", "/events", json={"id": "evt_replay", "type": "message.bounced", "data": {"n": 1}}
    )
    [original] = receiver.wait_for(lambda rs: len(rs) >= 1)
    logged = logged_attempts(server, 1, subscription_id=sub["id"])
    assert len(logged) == 1 and logged[0]["replayable"] is True
    time.sleep(1.1)  # so the fresh timestamp differs
    resp = server.api("POST", f"/webhooks/deliveries/{logged[0]['id']}/replay")
    assert resp.status_code == 200, resp.text
    replayed = resp.json()
    assert replayed["is_replay"] is True
    assert replayed["event_id"] == "evt_replay"
    assert replayed["id"] != logged[0]["id"]
    _, again = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert again.body == original.body
    assert again.headers["webhook-id"] == original.headers["webhook-id"] == "evt_replay"
    assert int(again.headers["webhook-timestamp"]) > int(original.headers["webhook-timestamp"])
    Webhook(sub["secret"]).verify(again.body, again.headers)
    mine = {"subscription_id": sub["id"]}
    rows = server.api("GET", "/webhooks/deliveries", params=mine).json()["deliveries"]
    assert [r["is_replay"] for r in rows] == [True, False]

    # no longer wanted: 409; gone: 409; unknown: 404
    server.api(
        "PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"event_types": ["message.sent"]}
    )
    assert server.api("POST", f"/webhooks/deliveries/{logged[0]['id']}/replay").status_code == 409
    server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}")
    gone = server.api("POST", f"/webhooks/deliveries/{logged[0]['id']}/replay")
    assert gone.status_code == 409
    assert "no longer exists" in gone.json()["detail"]
    missing = server.api("POST", "/webhooks/deliveries/00000000-0000-4000-8000-000000000000/replay")
    assert missing.status_code == 404


def test_recover_requeues_failed_deliveries(server: Server, receiver: Receiver) -> None:
    receiver.plan("/down", [500])
    sub = make_sub(server, receiver.url("/down"), retry_schedule=[0])
    server.api("POST", "/events", json={"id": "evt_rec_old", "type": "message.bounced"})
    receiver.wait_for(lambda rs: len(rs) >= 1)
    logged_attempts(server, 1, subscription_id=sub["id"])
    time.sleep(0.3)
    since = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    time.sleep(0.3)
    for i in range(3):
        server.api("POST", "/events", json={"id": f"evt_rec_{i}", "type": "message.bounced"})
    receiver.wait_for(lambda rs: len(rs) >= 4)
    logged_attempts(server, 4, subscription_id=sub["id"])
    names = ["evt_rec_old"] + [f"evt_rec_{i}" for i in range(3)]

    def states() -> list[str]:
        return [
            server.api("GET", f"/events/{n}/deliveries").json()["deliveries"][0]["state"]
            for n in names
        ]

    assert states() == ["failed"] * 4
    receiver.plan("/down", [200])
    resp = server.api("POST", f"/webhooks/subscriptions/{sub['id']}/recover", json={"since": since})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"requeued": 3}, "only what failed since the cutoff"
    got = receiver.wait_for(lambda rs: len(rs) >= 7)
    assert sorted(json.loads(r.body)["id"] for r in got[4:]) == [f"evt_rec_{i}" for i in range(3)]
    for i in range(3):  # final: no attempt can follow
        server.wait_states(f"evt_rec_{i}", {"succeeded"})
    assert states() == ["failed"] + ["succeeded"] * 3
    assert len(receiver.requests) == 7
    again = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/recover", json={"since": since}
    )
    assert again.json() == {"requeued": 0}
    bad = server.api("POST", f"/webhooks/subscriptions/{sub['id']}/recover", json={"since": "soon"})
    assert bad.status_code == 422
