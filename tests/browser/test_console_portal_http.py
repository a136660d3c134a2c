"""Customer portal links over plain HTTP against the real server: the API that makes them, and
the one-time console sessions they open, scoped to one owner."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from .conftest import csrf_of

FRAMER = "https://app.example.com"


def _world(server: Any) -> dict[str, str]:
    """Two identities, each with a mailbox and a webhook on it; one more webhook of ada's."""
    ids: dict[str, str] = {}
    for who in ("ada", "bob"):
        assert server.api("POST", "/identities", json={"agent_handle": who}).status_code == 201
        made = server.api(
            "POST",
            "/mail/mailboxes",
            json={"email_address": f"{who}@mail.example.com", "agent_handle": who},
        )
        ids[f"{who}_mailbox"] = made.json()["id"]
        sub = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": f"http://127.0.0.1:9/{who}-mailbox",
                "event_types": ["message.received"],
                "mailbox_id": ids[f"{who}_mailbox"],
                "name": f"{who} mailbox hook",
            },
        )
        ids[f"{who}_sub"] = sub.json()["id"]
    ada = server.api("GET", "/identities/ada").json()["id"]
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": "http://127.0.0.1:9/ada-identity",
            "event_types": ["message.sent"],
            "agent_identity_id": ada,
            "name": "ada identity hook",
        },
    )
    ids["ada_identity_sub"] = sub.json()["id"]
    server.api("POST", "/mail/mailboxes", json={"email_address": "nobody@mail.example.com"})
    return ids


def _link(server: Any, **body: Any) -> str:
    made = server.api("POST", "/portal-links", json=body)
    assert made.status_code == 201, made.text
    assert set(made.json()) == {"url", "expires_at"}
    url: str = made.json()["url"]
    assert url.startswith(server.base + "/console/portal?token=")
    return url


class Portal:
    """A browser holding a portal session's cookie (httpx keeps no Secure cookie over plain
    HTTP, so it is handed back by hand, as a browser on loopback does)."""

    def __init__(self, server: Any, url: str) -> None:
        self.client = httpx.Client(base_url=server.base, timeout=30)
        opened = self.client.get(url)
        assert opened.status_code == 303, opened.text
        assert opened.headers["location"] == "/console/webhooks"
        [cookie] = [
            c for c in opened.headers.get_list("set-cookie") if c.startswith("hookline_portal=")
        ]
        self.set_cookie = cookie
        self.token = cookie.split(";")[0].split("=", 1)[1]

    def get(self, path: str) -> httpx.Response:
        return self.client.get("/console" + path, headers=self._cookie())

    def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return self.client.post("/console" + path, data=data, headers=self._cookie())

    def _cookie(self) -> dict[str, str]:
        return {"Cookie": f"hookline_portal={self.token}"}


@pytest.fixture
def portals() -> Iterator[Callable[[Any, str], Portal]]:
    opened: list[Portal] = []

    def open_portal(server: Any, url: str) -> Portal:
        opened.append(Portal(server, url))
        return opened[-1]

    yield open_portal
    for portal in opened:
        portal.client.close()


@pytest.fixture
def portal_server(launcher: Any, database_url: str) -> Any:
    return launcher.serve(database_url, HOOKLINE_PORTAL_FRAME_ANCESTORS=FRAMER)


def test_making_a_link_needs_an_admin_key_one_owner_and_a_bounded_ttl(portal_server: Any) -> None:
    server = portal_server
    ids = _world(server)
    bad = {
        "no owner": ({"ttl_s": 600}, 422, "agent_handle"),
        "two owners": (
            {"agent_handle": "ada", "mailbox_id": ids["ada_mailbox"], "ttl_s": 600},
            422,
            "mailbox_id",
        ),
        "too short": ({"agent_handle": "ada", "ttl_s": 59}, 422, "ttl_s"),
        "too long": ({"agent_handle": "ada", "ttl_s": 86_401}, 422, "ttl_s"),
        "unknown identity": ({"agent_handle": "nobody", "ttl_s": 600}, 422, "agent_handle"),
        "unknown mailbox": ({"mailbox_id": "x", "ttl_s": 600}, 422, "mailbox_id"),
        "unowned mailbox": (
            {
                "mailbox_id": server.api("GET", "/mail/mailboxes/nobody@mail.example.com").json()[
                    "id"
                ],
                "ttl_s": 600,
            },
            422,
            "mailbox_id",
        ),
    }
    for name, (body, status, field) in bad.items():
        resp = server.api("POST", "/portal-links", json=body)
        assert resp.status_code == status, (name, resp.text)
        assert field in {e["field"].split(".")[-1] for e in resp.json()["errors"]}, (
            name,
            resp.text,
        )
    agent_key = server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "ada"})
    as_agent = httpx.post(
        server.base + "/api/v1/portal-links",
        json={"agent_handle": "ada", "ttl_s": 600},
        headers={"X-API-Key": agent_key.json()["key"]},
        timeout=30,
    )
    assert as_agent.status_code == 403
    assert httpx.post(server.base + "/api/v1/portal-links", json={}, timeout=30).status_code == 401


def test_a_link_opens_once_into_the_identitys_webhooks_only(
    portal_server: Any, portals: Callable[[Any, str], Portal]
) -> None:
    server = portal_server
    ids = _world(server)
    url = _link(server, agent_handle="ada", ttl_s=600)
    portal = portals(server, url)
    flags = {p.strip().lower() for p in portal.set_cookie.split(";")[1:]}
    # inside another site's iframe a cookie needs all three; loopback keeps Secure over HTTP
    assert {"httponly", "samesite=none", "secure", "partitioned", "path=/console"} <= flags

    # once: the same link again opens nothing
    again = portal.client.get(url)
    assert again.status_code == 410
    assert "used already or has expired" in again.text
    assert "hookline_portal" not in again.headers.get("set-cookie", "")

    listing = portal.get("/webhooks")
    assert listing.status_code == 200
    assert "ada mailbox hook" in listing.text and "ada identity hook" in listing.text
    assert "bob mailbox hook" not in listing.text
    # framed by the configured origins only, unlike a signed-in user's pages
    assert f"frame-ancestors {FRAMER}" in listing.headers["content-security-policy"]
    assert "x-frame-options" not in listing.headers
    menu = re.findall(r'<li><a href="/console/([a-z-]+)"', listing.text)
    assert menu == ["webhooks", "catalog"]
    assert portal.get(f"/webhooks/{ids['bob_sub']}").status_code == 404
    assert portal.get(f"/webhooks/{ids['ada_sub']}").status_code == 200
    for elsewhere in ("/events", "/owners", "/api-keys", "/signing-keys", "/users", "/account"):
        assert portal.get(elsewhere).status_code == 403, elsewhere

    # it changes what an agent of ada may change, with the session's CSRF token
    token = csrf_of(portal.get("/webhooks/new").text)
    made = portal.post(
        "/webhooks/new",
        {
            "csrf_token": token,
            "name": "from the portal",
            "url": "http://127.0.0.1:9/portal",
            "event_types": ["message.sent"],
        },
    )
    assert made.status_code == 303, made.text
    sub_id = made.headers["location"].rsplit("/", 1)[-1]
    sub = server.api("GET", f"/webhooks/subscriptions/{sub_id}").json()
    assert sub["owner_identity_id"] == server.api("GET", "/identities/ada").json()["id"]
    assert (
        portal.post(f"/webhooks/{ids['bob_sub']}/disable", {"csrf_token": token}).status_code == 404
    )

    # signing out ends the session
    assert portal.post("/sign-out", {"csrf_token": token}).status_code == 200
    assert portal.get("/webhooks").status_code == 303


def test_a_mailbox_link_sees_that_mailboxs_webhooks_and_adds_to_it(
    portal_server: Any, portals: Callable[[Any, str], Portal]
) -> None:
    server = portal_server
    ids = _world(server)
    portal = portals(server, _link(server, mailbox_id=ids["ada_mailbox"], ttl_s=60))
    listing = portal.get("/webhooks").text
    assert "ada mailbox hook" in listing
    assert "ada identity hook" not in listing  # ada's, but not the mailbox's
    assert portal.get(f"/webhooks/{ids['ada_identity_sub']}").status_code == 404
    token = csrf_of(portal.get("/webhooks/new").text)
    made = portal.post(
        "/webhooks/new",
        {
            "csrf_token": token,
            "url": "http://127.0.0.1:9/mb",
            "event_types": ["message.received"],
        },
    )
    assert made.status_code == 303, made.text
    sub = server.api(
        "GET", f"/webhooks/subscriptions/{made.headers['location'].rsplit('/', 1)[-1]}"
    )
    assert sub.json()["mailbox_id"] == ids["ada_mailbox"]


def test_without_frame_ancestors_portal_pages_are_not_framable(
    launcher: Any, sqlite_url: str, portals: Callable[[Any, str], Portal]
) -> None:
    server = launcher.serve(sqlite_url)
    assert server.api("POST", "/identities", json={"agent_handle": "ada"}).status_code == 201
    portal = portals(server, _link(server, agent_handle="ada", ttl_s=600))
    page = portal.get("/webhooks")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
