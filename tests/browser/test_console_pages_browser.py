"""The Events, Owners and API keys pages in a real browser (Chromium through Playwright)
against the real server (on SQLite: conftest.ON_SQLITE), by visible labels and roles."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ON_SQLITE, PASSWORD, make_user

pytestmark = ON_SQLITE

ADMIN = "admin@example.com"


@pytest.fixture
def console(launcher: Any, database_url: str, chromium: Browser) -> Iterator[tuple[Any, Page]]:
    """A running server with an admin, and a page signed in as that admin."""
    server = launcher.serve(database_url)
    make_user(launcher, database_url, ADMIN)
    context = chromium.new_context(base_url=server.base)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/console/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    yield server, page
    context.close()
    assert errors == []  # nothing refused by the CSP, no script failed


def test_create_an_api_key_copy_it_use_it_and_revoke_it(console: tuple[Any, Page]) -> None:
    server, page = console
    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    page.get_by_label("Admin (the whole organization)").check()
    page.get_by_label("Name (optional)").fill("deploy bot")
    page.get_by_role("button", name="Create API key").click()
    shown = page.locator("#new-api-key")
    expect(shown).to_have_text(re.compile(r"^\S{20,}$"))
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    key = page.evaluate("navigator.clipboard.readText()")
    assert key == shown.text_content()
    with httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=30) as api:
        assert api.get("/api/v1/identities").status_code == 200
        row = page.get_by_role("row", name=re.compile("deploy bot"))
        expect(row).to_contain_text(key[:10])
        row.get_by_role("link", name=re.compile("^Revoke")).click()
        page.get_by_role("button", name="Revoke API key").click()
        expect(page.get_by_role("row", name=re.compile("deploy bot"))).to_contain_text(
            re.compile(r"\d{4}-\d\d-\d\dT.*\d{4}-\d\d-\d\dT")  # created, then revoked
        )
        assert api.get("/api/v1/identities").status_code == 401


def test_set_and_clear_a_mailbox_webhook_url(console: tuple[Any, Page], receiver: Any) -> None:
    server, page = console
    page.get_by_role("navigation").get_by_role("link", name="Owners").click()
    page.get_by_label("New identity's agent handle").fill("sales-agent")
    page.get_by_role("button", name="Add identity").click()
    page.get_by_label("New mailbox's email address").fill("sales@mail.example.com")
    page.get_by_label("Owning identity's agent handle (optional)").first.fill("sales-agent")
    page.get_by_role("button", name="Add mailbox").click()
    page.get_by_role("link", name="sales@mail.example.com").click()
    page.get_by_label("Webhook URL").fill(receiver.url("/mailbox"))
    page.get_by_role("button", name="Save webhook URL").click()
    # the identity had no signing key: setting the URL made one, shown this once
    expect(page.locator("#signing-key-value")).to_have_text(re.compile(r"^whsec_"))
    page.get_by_role("navigation").get_by_role("link", name="Owners").click()
    expect(page.get_by_role("row", name=re.compile("sales@mail"))).to_contain_text(
        receiver.url("/mailbox")
    )
    got = server.api("GET", "/mail/mailboxes/sales@mail.example.com").json()
    assert got["webhook_url"] == receiver.url("/mailbox")

    page.get_by_role("link", name="sales@mail.example.com").click()
    page.get_by_label("Webhook URL").fill("")
    page.get_by_role("button", name="Save webhook URL").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_text("Webhook URL: none")).to_be_visible()
    assert server.api("GET", "/mail/mailboxes/sales@mail.example.com").json()["webhook_url"] is None


def _wait_until_succeeded(server: Any, event_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = server.api("GET", f"/events/{event_id}/deliveries").json()["deliveries"]
        if found and found[0]["state"] == "succeeded":
            return
        time.sleep(0.1)
    raise AssertionError(f"{event_id} was not delivered")


def test_look_up_an_event_and_see_its_deliveries(console: tuple[Any, Page], receiver: Any) -> None:
    server, page = console
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/ev"), "event_types": ["message.sent"], "name": "Sent mail"},
    )
    assert sub.status_code == 201, sub.text
    published = server.api(
        "POST", "/events", json={"id": "evt_lookup_1", "type": "message.sent", "data": {}}
    )
    assert published.status_code == 202, published.text
    _wait_until_succeeded(server, "evt_lookup_1")

    page.get_by_role("navigation").get_by_role("link", name="Events").click()
    expect(page.get_by_role("row", name=re.compile("evt_lookup_1"))).to_be_visible()
    page.get_by_label("Event id").fill("evt_lookup_1")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name="Event evt_lookup_1")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(sub.json()["id"]))
    expect(row).to_contain_text("succeeded")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Sent mail")).to_be_visible()

    page.goto("/console/events/evt_unknown")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


class Platform:
    """The platform's page that embeds the portal: served on loopback like the server, but
    named ``localhost``, which is another site than the server's ``127.0.0.1``."""

    def __init__(self) -> None:
        self.body = b""
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(platform.body)))
                self.end_headers()
                self.wfile.write(platform.body)

            def log_message(self, *args: Any) -> None:
                del args

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def platform() -> Iterator[Platform]:
    site = Platform()
    yield site
    site.close()


@pytest.fixture
def portal_server(launcher: Any, database_url: str, platform: Platform) -> Any:
    return launcher.serve(database_url, HOOKLINE_PORTAL_FRAME_ANCESTORS=platform.origin)


def _portal_world(server: Any) -> str:
    for who in ("ada", "bob"):
        assert server.api("POST", "/identities", json={"agent_handle": who}).status_code == 201
        ident = server.api("GET", f"/identities/{who}").json()["id"]
        made = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": f"http://127.0.0.1:9/{who}",
                "event_types": ["message.sent"],
                "agent_identity_id": ident,
                "name": f"{who}'s hook",
            },
        )
        assert made.status_code == 201, made.text
    link = server.api("POST", "/portal-links", json={"agent_handle": "ada", "ttl_s": 600})
    assert link.status_code == 201, link.text
    url: str = link.json()["url"]
    return url


def test_a_portal_link_shows_only_its_owners_webhooks_once(
    portal_server: Any, chromium: Browser
) -> None:
    url = _portal_world(portal_server)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page.get_by_role("link", name="ada's hook")).to_be_visible()
    expect(page.get_by_text("bob's hook")).to_have_count(0)
    menu = page.get_by_role("navigation").get_by_role("link")
    expect(menu).to_have_text(["Webhooks", "Catalog"])
    page.get_by_role("link", name="ada's hook").click()
    expect(page.get_by_role("heading", name="ada's hook")).to_be_visible()

    other = chromium.new_context().new_page()
    answer = other.goto(url)
    assert answer is not None and answer.status == 410
    expect(other.get_by_role("heading", name="Link used or expired")).to_be_visible()
    other.context.close()
    context.close()


def test_a_portal_link_works_inside_the_platforms_iframe(
    portal_server: Any, chromium: Browser, platform: Platform
) -> None:
    url = _portal_world(portal_server)
    context = chromium.new_context()
    page = context.new_page()
    platform.body = (
        f'<title>Platform</title><iframe src="{url}" title="Webhooks"></iframe>'.encode()
    )
    page.goto(platform.origin + "/")
    framed = page.frame_locator('iframe[title="Webhooks"]')
    expect(framed.get_by_role("link", name="ada's hook")).to_be_visible()
    # the session's cookie came along to the next page inside the frame
    framed.get_by_role("link", name="ada's hook").click()
    expect(framed.get_by_role("heading", name="ada's hook")).to_be_visible()
    context.close()
