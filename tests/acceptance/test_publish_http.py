"""The publish endpoints at the HTTP level: every kind of bad request gets a clear 4xx.

``POST /events`` and ``/events/batch`` take their own road through the app (``publish_path.py``);
these tests hold it to the contract the FastAPI routes keep for every other endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Server


@pytest.fixture
def server(shared_server: Server) -> Server:
    """One server per database for the module: its tests publish events with ids of their
    own to no subscription, and each looks only at what it published."""
    return shared_server


def _post(server: Server, path: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.base}/api/v1{path}",
        content=content,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def _post_chunked(server: Server, path: str, body: Any) -> httpx.Response:
    """``body`` sent in two chunks, with no Content-Length."""
    raw = json.dumps(body).encode()
    half = len(raw) // 2
    return httpx.post(
        f"{server.base}/api/v1{path}",
        content=iter([raw[:half], raw[half:]]),
        headers={"Content-Type": "application/json", "X-API-Key": ADMIN_KEY},
        timeout=30,
    )


def _fields(resp: httpx.Response) -> list[str]:
    return [e["field"] for e in resp.json()["errors"]]


def test_a_publish_answers_202_with_what_it_made(server: Server) -> None:
    body = {"id": "evt_http_1", "type": "message.sent", "data": {"message_id": "m"}}
    first = server.api("POST", "/events", json=body)
    assert first.status_code == 202, first.text
    assert first.headers["content-type"] == "application/json"
    out = first.json()
    assert set(out) == {"id", "type", "timestamp", "deliveries", "duplicate"}
    assert (out["id"], out["type"], out["deliveries"], out["duplicate"]) == (
        "evt_http_1",
        "message.sent",
        0,
        False,
    )
    again = server.api("POST", "/events", json=body)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    batch = server.api(
        "POST", "/events/batch", json={"events": [body, {"id": "evt_http_2", "type": "text.sent"}]}
    )
    assert batch.status_code == 202, batch.text
    assert [(e["id"], e["duplicate"]) for e in batch.json()["events"]] == [
        ("evt_http_1", True),
        ("evt_http_2", False),
    ]


def test_keys_are_checked_as_everywhere(server: Server) -> None:
    event = json.dumps({"type": "message.sent"}).encode()
    for headers in ({}, {"X-API-Key": "hl_unknown"}, {"Authorization": "Basic abc"}):
        for path in ("/events", "/events/batch"):
            resp = _post(server, path, event, **headers)
            assert resp.status_code == 401, (path, headers, resp.text)
            assert resp.headers["www-authenticate"] == "Bearer"
            assert isinstance(resp.json()["detail"], str)
    bearer = _post(server, "/events", event, Authorization=f"Bearer {ADMIN_KEY}")
    assert bearer.status_code == 202, bearer.text
    agent_key = _agent_key(server)
    denied = _post(server, "/events", event, **{"X-API-Key": agent_key})
    assert denied.status_code == 403, denied.text


def _agent_key(server: Server) -> str:
    assert server.api("POST", "/identities", json={"agent_handle": "pub"}).status_code == 201
    created = server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "pub"})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def test_malformed_bodies_are_422_naming_the_problem(server: Server) -> None:
    key = {"X-API-Key": ADMIN_KEY}
    cases: list[tuple[str, bytes, str]] = [
        ("/events", b"{not json", "body"),
        ("/events", b"", "body"),
        ("/events", b"[1, 2]", "body"),
        ("/events", json.dumps({"data": {}}).encode(), "type"),
        ("/events", json.dumps({"type": "message.sent", "colour": 1}).encode(), "colour"),
        ("/events", json.dumps({"type": 7}).encode(), "type"),
        ("/events/batch", json.dumps({"events": {}}).encode(), "events"),
        ("/events/batch", json.dumps({"events": [{"type": "message.sent"}, {}]}).encode(),
         "events[1].type"),
        # Python's JSON reader takes these; a receiver's need not, so they never go out
        ("/events", b'{"type": "message.sent", "data": {"n": NaN}}', "data"),
        ("/events/batch", b'{"events": [{"type": "message.sent"},'
         b' {"type": "message.sent", "data": {"n": [Infinity]}}]}', "events[1].data"),
        # an event belongs to at most one owner: the second one named is the problem
        ("/events", json.dumps({"type": "message.sent", "mailbox": "a@example.com",
                                "agent_handle": "ada"}).encode(), "agent_handle"),
        ("/events/batch", json.dumps({"events": [{"type": "message.sent"}, {
            "type": "message.sent", "phone_number": "+15551234567", "agent_handle": "ada"}]}
        ).encode(), "events[1].agent_handle"),
    ]  # fmt: skip
    for path, content, field in cases:
        resp = _post(server, path, content, **key)
        assert resp.status_code == 422, (path, content, resp.text)
        assert field in _fields(resp), (path, content, resp.json())
        assert resp.json()["detail"]
    # nothing was published by any of them
    assert server.api("GET", "/webhooks/deliveries").json()["deliveries"] == []


def test_other_content_types_are_refused_not_guessed(server: Server) -> None:
    resp = httpx.post(
        f"{server.base}/api/v1/events",
        content=json.dumps({"type": "message.sent"}).encode(),
        headers={"X-API-Key": ADMIN_KEY, "Content-Type": "text/plain"},
        timeout=30,
    )
    assert 400 <= resp.status_code < 500, resp.text


def test_oversized_bodies_are_413(launcher: Launcher, database_url: str) -> None:
    server = launcher.serve(database_url, HOOKLINE_MAX_BODY_BYTES="2000")
    big: dict[str, Any] = {"type": "message.sent", "data": {"pad": "x" * 5000}}
    for path, body in (("/events", big), ("/events/batch", {"events": [big]})):
        resp = server.api("POST", path, json=body)
        assert resp.status_code == 413, resp.text
        assert "2000" in resp.json()["detail"]
        # a chunked body declares no length: it is counted as it comes
        chunked = _post_chunked(server, path, body)
        assert chunked.status_code == 413, chunked.text
        assert "2000" in chunked.json()["detail"]
    fits = _post_chunked(server, "/events", {"type": "message.sent", "data": {"pad": "x" * 100}})
    assert fits.status_code == 202, fits.text
    assert server.api("GET", f"/events/{fits.json()['id']}").status_code == 200
    assert server.api("GET", "/webhooks/deliveries").json()["deliveries"] == []


def test_an_events_data_is_limited_to_256_kib_as_stored(server: Server) -> None:
    """The limit counts the data's stored bytes (compact UTF-8 JSON), whatever the request's
    own spacing or escapes."""
    at_limit = 256 * 1024 - len('{"pad":""}')
    fits = {"type": "message.sent", "id": "evt_fits", "data": {"pad": "x" * at_limit}}
    # "é" is two bytes stored, six as the escape json.dumps writes by default
    accented = {"type": "message.sent", "id": "evt_acc", "data": {"pad": "é" * (at_limit // 2)}}
    over = {"type": "message.sent", "id": "evt_over", "data": {"pad": "x" * (at_limit + 1)}}
    assert server.api("POST", "/events", json=fits).status_code == 202
    assert server.api("POST", "/events", json=accented).status_code == 202
    resp = server.api("POST", "/events/batch", json={"events": [fits, over]})
    assert resp.status_code == 413, resp.text
    assert "events[1].data" in resp.json()["detail"]
    assert server.api("GET", "/events/evt_fits").json()["data"] == fits["data"]
    assert server.api("GET", "/events/evt_acc").json()["data"] == accented["data"]
    assert server.api("GET", "/events/evt_over").status_code == 404


def test_the_words_nan_and_infinity_in_strings_are_only_text(server: Server) -> None:
    data = {"note": "NaN", "list": ["Infinity", "-Infinity"], "NaN": 1.5, "n": 10**30}
    resp = server.api(
        "POST", "/events", json={"id": "evt_words", "type": "message.sent", "data": data}
    )
    assert resp.status_code == 202, resp.text
    assert server.api("GET", "/events/evt_words").json()["data"] == data


def test_a_trusted_proxys_headers_still_shape_the_urls_the_app_builds(server: Server) -> None:
    """uvicorn's proxy-headers layer sits inside the app (behind the publish road), so the
    routes that build URLs still take X-Forwarded-Proto from a proxy on loopback."""
    url = f"{server.base}/api/v1/webhooks/subscriptions/"
    headers = {"X-API-Key": ADMIN_KEY}
    proxied = httpx.get(url, headers={**headers, "X-Forwarded-Proto": "https"}, timeout=30)
    direct = httpx.get(url, headers=headers, timeout=30)
    assert proxied.status_code == direct.status_code == 307
    assert proxied.headers["location"].startswith("https://")
    assert direct.headers["location"].startswith("http://")


def test_a_repeated_id_with_other_content_is_409_naming_it(server: Server) -> None:
    """On both endpoints, and on both roads through the app (``publish_path.py``'s, and the
    routers' for a JSON type it leaves to them); the same content again stays a repeat."""
    body = {"id": "evt_c1", "type": "message.sent", "data": {"message_id": "m"}}
    assert server.api("POST", "/events", json=body).status_code == 202
    conflicts: list[dict[str, Any]] = [
        {**body, "type": "message.delivered"},
        {**body, "data": {"message_id": "other"}},
        {**body, "data": {}},
    ]
    for content_type in ("application/json", "application/vnd.hookline+json"):
        for other in conflicts:
            single = _post(server, "/events", json.dumps(other).encode(), **_key(content_type))
            assert single.status_code == 409, (content_type, single.text)
            assert "evt_c1" in single.json()["detail"]
            assert _fields(single) == ["id"]
            batch = _post(
                server,
                "/events/batch",
                json.dumps({"events": [{"id": "evt_c2", "type": "text.sent"}, other]}).encode(),
                **_key(content_type),
            )
            assert batch.status_code == 409, (content_type, batch.text)
            assert "evt_c1" in batch.json()["detail"]
            assert _fields(batch) == ["events[1].id"]
        # a batch is all or nothing: its new event was not published either
        assert server.api("GET", "/events/evt_c2").status_code == 404
        # a batch that names one id twice with other content is a conflict within itself
        twice = {"events": [{"id": "evt_c3", "type": "text.sent"}, {**body, "id": "evt_c3"}]}
        inner = _post(server, "/events/batch", json.dumps(twice).encode(), **_key(content_type))
        assert inner.status_code == 409, inner.text
        assert _fields(inner) == ["events[1].id"]
        assert server.api("GET", "/events/evt_c3").status_code == 404
        # the same content again (key order and spacing aside) is the idempotent answer
        again = _post(
            server,
            "/events",
            b'{"data": {"message_id": "m"}, "type": "message.sent", "id": "evt_c1"}',
            **_key(content_type),
        )
        assert again.status_code == 202 and again.json()["duplicate"] is True, again.text
    assert server.api("GET", "/events/evt_c1").json()["type"] == "message.sent"


def _key(content_type: str) -> dict[str, str]:
    return {"X-API-Key": ADMIN_KEY, "Content-Type": content_type}
