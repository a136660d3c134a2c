"""Incoming calls: a synchronous, signed callback with a bounded wait and a fallback."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Launcher, Received, Receiver, Server


@pytest.fixture
def server(shared_server: Server) -> Server:
    """One server per database for the module's tests that need no settings of their own:
    they use different phone numbers and read only their own number's log."""
    return shared_server


def number(server: Server, url: str | None, action: str = "webhook") -> dict[str, Any]:
    server.api("POST", "/identities", json={"agent_handle": "caller"})
    key = server.api("POST", "/identities/caller/signing-key").json()["signing_key"]
    phone = server.api(
        "POST", "/phone/numbers", json={"number": "+15557654321", "agent_handle": "caller"}
    ).json()
    body: dict[str, Any] = {"incoming_call_action": action}
    if url is not None:
        body["incoming_call_webhook_url"] = url
    patched = server.api("PATCH", f"/phone/numbers/{phone['id']}", json=body)
    assert patched.status_code == 200, patched.text
    return {**patched.json(), "key": key}


def call(server: Server, phone_id: str) -> dict[str, Any]:
    resp = server.api(
        "POST", f"/phone/numbers/{phone_id}/incoming-call",
        json={"call_id": "call_1", "from": "+15551234567"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_webhook_decides_and_call_is_signed_and_logged(server: Server, receiver: Receiver) -> None:
    receiver.bodies["/call"] = json.dumps({"action": "forward", "forward_to": "+15550001111"})
    phone = number(server, receiver.url("/call"))
    assert phone["incoming_call_action"] == "webhook"
    assert phone["incoming_call_webhook_url"] == receiver.url("/call")
    decision = call(server, phone["id"])
    assert decision == {"action": "forward", "source": "webhook", "forward_to": "+15550001111"}
    [req] = receiver.requests
    payload = json.loads(req.body)
    assert payload["call_id"] == "call_1" and payload["from"] == "+15551234567"
    assert "data" not in payload, "flat, no envelope"
    msg = (
        f"{req.headers['X-Inkbox-Request-ID']}.{req.headers['X-Inkbox-Timestamp']}.".encode()
        + req.body
    )
    want = hmac.new(phone["key"].removeprefix("whsec_").encode(), msg, hashlib.sha256).hexdigest()
    assert req.headers["X-Inkbox-Signature"] == "sha256=" + want
    logged = server.api(
        "GET", "/webhooks/deliveries", params={"phone_number_id": phone["id"]}
    ).json()
    [row] = logged["deliveries"]
    assert row["event_type"] == "phone.incoming_call"
    assert row["phone_number_id"] == phone["id"]
    assert row["replayable"] is False and row["replay_unavailable_reason"]
    replay = server.api("POST", f"/webhooks/deliveries/{row['id']}/replay")
    assert replay.status_code == 422


def _more_calls_than(n: int) -> Callable[[list[Received]], bool]:
    return lambda rs: len([r for r in rs if r.path == "/c"]) > n


def test_fallbacks_say_why(launcher: Launcher, database_url: str, receiver: Receiver) -> None:
    server = launcher.serve(
        database_url, HOOKLINE_INCOMING_CALL_TIMEOUT_S="1", HOOKLINE_INCOMING_CALL_FALLBACK="answer"
    )
    phone = number(server, receiver.url("/c"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": [500]}, "HTTP 500"),
        ({"body": "not json"}, "not JSON"),
        ({"body": json.dumps({"action": "dance"})}, "'dance'"),
        ({"body": json.dumps(["answer"])}, "not a JSON object"),
        ({"delay": 3.0}, "timed out"),
    ]
    for setup, reason in cases:
        receiver.plan("/c", setup.get("status", [200]))
        receiver.bodies["/c"] = str(setup.get("body", json.dumps({"action": "answer"})))
        receiver.delays["/c"] = float(setup.get("delay", 0.0))
        asked = len(receiver.at("/c"))
        decision = call(server, phone["id"])
        assert decision["action"] == "answer" and decision["source"] == "fallback", decision
        assert reason in decision["reason"], decision
        if receiver.delays["/c"]:
            # bounded by HOOKLINE_INCOMING_CALL_TIMEOUT_S: decided, and the request given up,
            # while the receiver was still taking its time to answer
            receiver.wait_for(_more_calls_than(asked))
            receiver.wait_for(lambda _: receiver.cut_off.get("/c") == 1)
    server.api(
        "PATCH", f"/phone/numbers/{phone['id']}", json={"incoming_call_action": "auto_reject"}
    )
    decision = call(server, phone["id"])
    assert decision["source"] == "fallback" and "auto_reject" in decision["reason"]
    # every call is logged, the ones answered without asking the webhook too, newest first
    logged = server.api(
        "GET", "/webhooks/deliveries", params={"phone_number_id": phone["id"]}
    ).json()["deliveries"]
    assert len(logged) == len(cases) + 1
    assert "auto_reject" in logged[0]["error_detail"]
    assert logged[0]["response_status"] is None
    assert [a["replayable"] for a in logged] == [False] * len(logged)
    assert [a["event_type"] for a in logged] == ["phone.incoming_call"] * len(logged)


def test_configuration_is_validated(server: Server) -> None:
    phone = server.api("POST", "/phone/numbers", json={"number": "+15550009999"}).json()
    bad_action = server.api(
        "PATCH", f"/phone/numbers/{phone['id']}", json={"incoming_call_action": "maybe"}
    )
    assert bad_action.status_code == 422
    no_url = server.api(
        "PATCH", f"/phone/numbers/{phone['id']}", json={"incoming_call_action": "webhook"}
    )
    assert no_url.status_code == 422
    assert no_url.json()["errors"][0]["field"] == "incoming_call_webhook_url"
    missing = server.api(
        "POST", "/phone/numbers/00000000-0000-4000-8000-000000000000/incoming-call", json={}
    )
    assert missing.status_code == 404
