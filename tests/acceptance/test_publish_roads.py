"""The publish endpoints' two roads, compared: the fast one (``api/publish_path.py``) and the
routes declared in ``routers/events.py``.

A JSON ``POST`` to ``/events`` or ``/events/batch`` takes the fast road; any other JSON media
type (``application/vnd.hookline+json`` here) goes through FastAPI's declared route. Two
servers with the same set-up each take the same requests, one server by each road, and must
answer alike (status, body, the headers a client reads) and store alike.

Both servers use SQLite: the roads part above the storage interface, which the storage contract
suite already holds to one behaviour on both databases.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Server

FAST = "application/json"
DECLARED = "application/vnd.hookline+json"

#: values a server makes itself, different on each: masked before comparing, but for an
#: instant the request gave (``occurred_at``)
_MADE = ("timestamp", "created_at")
GIVEN_AT = "2026-12-01T10:00:00"

_OK = {"type": "message.sent", "data": {"message_id": "m1"}}


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(levels):
        node = {"a": node}
    return node


#: (name, path, raw body, extra headers): every kind of valid and invalid publish
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("valid", "/events", json.dumps({"id": "evt_r1", **_OK}).encode(), {}),
    ("same again", "/events", json.dumps({"id": "evt_r1", **_OK}).encode(), {}),
    (
        "conflicting",
        "/events",
        json.dumps({"id": "evt_r1", "type": "message.sent", "data": {}}).encode(),
        {},
    ),
    (
        "with occurred_at",
        "/events",
        json.dumps(
            {"id": "evt_r2", "type": "text.sent", "occurred_at": GIVEN_AT + "+00:00"}
        ).encode(),
        {},
    ),
    ("no data", "/events", b'{"id": "evt_r3", "type": "message.delivered"}', {}),
    ("no type", "/events", b'{"id": "evt_r4"}', {}),
    ("unknown type", "/events", b'{"id": "evt_r5", "type": "message.exploded"}', {}),
    ("bad id", "/events", b'{"id": "evt r6", "type": "message.sent"}', {}),
    ("long id", "/events", json.dumps({"id": "e" * 129, "type": "message.sent"}).encode(), {}),
    ("data not an object", "/events", b'{"id": "evt_r7", "type": "message.sent", "data": []}', {}),
    ("unknown field", "/events", b'{"id": "evt_r8", "type": "message.sent", "colour": 1}', {}),
    ("unknown mailbox", "/events", b'{"type": "message.sent", "mailbox": "no@example.org"}', {}),
    (
        "two owners",
        "/events",
        b'{"type": "message.sent", "mailbox": "a@example.org", "agent_handle": "x"}',
        {},
    ),
    (
        "bad occurred_at",
        "/events",
        b'{"id": "evt_r9", "type": "text.sent", "occurred_at": "yesterday"}',
        {},
    ),
    (
        "far future",
        "/events",
        b'{"id": "evt_r10", "type": "text.sent", "occurred_at": "2099-01-01T00:00:00Z"}',
        {},
    ),
    ("syntax error", "/events", b'{"id": "evt_r11", "type": ', {}),
    ("not an object", "/events", b'["message.sent"]', {}),
    ("empty body", "/events", b"", {}),
    ("too deep", "/events", json.dumps({"type": "text.sent", "data": _deep(70)}).encode(), {}),
    (
        "too large",
        "/events",
        json.dumps({"type": "text.sent", "data": {"x": "y" * 1_100_000}}).encode(),
        {},
    ),
    ("no key", "/events", json.dumps(_OK).encode(), {"X-API-Key": ""}),
    ("wrong key", "/events", json.dumps(_OK).encode(), {"X-API-Key": "hl_wrong_0123456789abc"}),
    (
        "batch",
        "/events/batch",
        json.dumps(
            {"events": [{"id": "evt_b1", **_OK}, {"id": "evt_b2", "type": "text.sent"}]}
        ).encode(),
        {},
    ),
    (
        "batch again",
        "/events/batch",
        json.dumps({"events": [{"id": "evt_b1", **_OK}]}).encode(),
        {},
    ),
    ("batch empty", "/events/batch", b'{"events": []}', {}),
    ("batch not a list", "/events/batch", b'{"events": {}}', {}),
    (
        "batch one bad",
        "/events/batch",
        json.dumps({"events": [{"id": "evt_b3", **_OK}, {"type": "nope.nope"}]}).encode(),
        {},
    ),
    (
        "batch too many",
        "/events/batch",
        json.dumps({"events": [{"type": "text.sent"}] * 1001}).encode(),
        {},
    ),
    (
        "batch names one id twice",
        "/events/batch",
        json.dumps(
            {"events": [{"id": "evt_b4", **_OK}, {"id": "evt_b4", "type": "text.sent"}]}
        ).encode(),
        {},
    ),
    ("batch syntax error", "/events/batch", b'{"events": [', {}),
]


def _answer(resp: httpx.Response) -> dict[str, Any]:
    """What a client reads of an answer, with the values each server makes masked."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    return {
        "status": resp.status_code,
        "content-type": resp.headers.get("content-type"),
        "retry-after": "retry-after" in resp.headers,
        "www-authenticate": resp.headers.get("www-authenticate"),
        "body": _masked(body),
    }


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<made>" if k in _MADE and not str(v).startswith(GIVEN_AT) else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, str) and value.startswith("evt_") and len(value) > 20:
        return "<evt id made by the server>"
    return value


def _published(resp: httpx.Response) -> list[str]:
    """The ids of the events a 202 answer names."""
    if resp.status_code != 202:
        return []
    body = resp.json()
    return [e["id"] for e in body["events"]] if "events" in body else [body["id"]]


def _stored(server: Server, event_ids: list[str], subs: list[str]) -> list[dict[str, Any]]:
    """Each published event as stored, with its deliveries by subscription (by position: ids
    are each server's own), in the order published."""
    rows = []
    for event_id in dict.fromkeys(event_ids):
        event = server.api("GET", f"/events/{event_id}")
        assert event.status_code == 200, event.text
        deliveries = server.api("GET", f"/events/{event_id}/deliveries")
        assert deliveries.status_code == 200, deliveries.text
        rows.append(
            {
                "event": _masked(event.json()),
                "deliveries": sorted(
                    (subs.index(d["webhook_subscription_id"]), d["state"])
                    for d in deliveries.json()["deliveries"]
                ),
            }
        )
    return rows


def _set_up(server: Server) -> list[str]:
    """Two disabled subscriptions (their deliveries are held: nothing is sent)."""
    made = []
    for types in (["message.sent", "message.delivered"], ["text.sent"]):
        resp = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": "http://127.0.0.1:9/hook", "event_types": types, "enabled": False},
        )
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
    return made


def _post(
    server: Server, path: str, body: bytes, road: str, extra: dict[str, str]
) -> httpx.Response:
    headers = {"Content-Type": road, "X-API-Key": ADMIN_KEY, **extra}
    if headers["X-API-Key"] == "":
        del headers["X-API-Key"]
    return httpx.post(f"{server.base}/api/v1{path}", content=body, headers=headers, timeout=30)


@pytest.fixture
def two_servers(launcher: Launcher, tmp_path: Any) -> tuple[Server, Server]:
    return (
        launcher.serve(f"sqlite:///{tmp_path}/fast.db"),
        launcher.serve(f"sqlite:///{tmp_path}/declared.db"),
    )


def test_both_roads_answer_and_store_alike(two_servers: tuple[Server, Server]) -> None:
    fast, declared = two_servers
    subs = {"fast": _set_up(fast), "declared": _set_up(declared)}
    published: dict[str, list[str]] = {"fast": [], "declared": []}
    statuses = set()
    for name, path, body, extra in CASES:
        a = _post(fast, path, body, FAST, extra)
        b = _post(declared, path, body, DECLARED, extra)
        assert _answer(a) == _answer(b), f"{name}: fast {a.text[:300]} / declared {b.text[:300]}"
        published["fast"] += _published(a)
        published["declared"] += _published(b)
        statuses.add(a.status_code)
    # the cases above cover every kind of answer the endpoints give
    assert {202, 401, 409, 413, 422} <= statuses, statuses
    stored_fast = _stored(fast, published["fast"], subs["fast"])
    stored_declared = _stored(declared, published["declared"], subs["declared"])
    assert stored_fast == stored_declared
    # evt_r1, r2, r3, b1 and b2 at least, each held for its subscription
    assert len(stored_fast) >= 5
    assert any(row["event"]["timestamp"].startswith(GIVEN_AT) for row in stored_fast)
    assert all(row["deliveries"] for row in stored_fast)
