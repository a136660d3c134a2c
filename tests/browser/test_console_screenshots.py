"""A tour of the console in a real browser on SQLite, with a little realistic data: two
webhooks to a real receiver and one to an endpoint that fails. Each page's main heading is
checked; with ``HOOKLINE_SCREENSHOTS=docs/console`` set, each page is also saved as a PNG
there, for docs/console.md."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import PASSWORD, make_user

ADMIN = "ada@example.com"
TYPES = ["message.delivered", "message.bounced", "message.received"]


def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _webhook(server: Any, url: str, name: str, **extra: Any) -> str:
    made = server.api(
        "POST", "/webhooks/subscriptions", json={"url": url, "name": name, "event_types": TYPES}
    )
    assert made.status_code == 201, made.text
    sub_id: str = made.json()["id"]
    return sub_id


def _world(server: Any, receiver: Any) -> str:
    """Owners, webhooks and delivered events; the id of the webhook that keeps failing."""
    assert server.api("POST", "/identities", json={"agent_handle": "support"}).status_code == 201
    mailbox = {"email_address": "support@mail.example.com", "agent_handle": "support"}
    assert server.api("POST", "/mail/mailboxes", json=mailbox).status_code == 201
    receiver.plan("/crm", [503])
    _webhook(server, receiver.url("/orders"), "Order updates")
    _webhook(server, receiver.url("/mail"), "Support inbox")
    failing = _webhook(server, receiver.url("/crm"), "CRM sync")
    for n in range(6):
        event = {
            "id": f"evt_{n + 1:04d}",
            "type": TYPES[n % 3],
            "mailbox": "support@mail.example.com",
            "domain": "mail.example.com",
            "data": {"message_id": f"msg_{n + 1}", "recipient": "bob@example.com"},
        }
        assert server.api("POST", "/events", json=event).status_code == 202
    # every webhook answered for every event, the failing one at least once
    receiver.wait_for(lambda rs: len({(r.path, r.body) for r in rs}) >= 18, timeout_s=30)
    return failing


def test_console_tour(
    launcher: Any, sqlite_url: str, receiver: Any, chromium: Browser, tmp_path: Path
) -> None:
    folder = os.environ.get("HOOKLINE_SCREENSHOTS")
    server = launcher.serve(sqlite_url)
    link = re.search(r"/console/setup\?token=[\w-]+", server.procs[0].output())
    assert link, server.procs[0].output()
    failing = _world(server, receiver)
    context = chromium.new_context(base_url=server.base, viewport={"width": 1280, "height": 800})
    page = context.new_page()

    def shot(heading: str | re.Pattern[str], name: str) -> None:
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        if folder:
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)

    page.goto(link.group(0))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    shot("Create the first admin", "setup")
    page.get_by_role("button", name="Create admin").click()
    shot("Webhooks", "webhooks")
    # a second user, once the first admin exists (the set-up link works only while none does)
    make_user(launcher, sqlite_url, "bob@example.com", "viewer")
    page.get_by_role("link", name="Add webhook").first.click()
    shot(re.compile("webhook", re.I), "webhook-new")

    page.goto(f"/console/webhooks/{failing}")
    shot("CRM sync", "webhook")
    page.get_by_role("link", name=re.compile(r"^\d{4}-")).first.click()
    shot(re.compile("^Attempt: message"), "attempt")

    nav = page.get_by_role("navigation")
    for label, heading, name in [
        ("Events", "Events", "events"),
        ("Owners", "Owners", "owners"),
        ("API keys", "API keys", "api-keys"),
        ("Signing keys", "Signing keys", "signing-keys"),
        ("Users", "Users", "users"),
        ("Catalog", "Event catalog", "catalog"),
    ]:
        nav.get_by_role("link", name=label).click()
        shot(heading, name)
    nav.get_by_role("link", name="Events").click()
    page.get_by_role("link", name="evt_0001").click()
    shot("Event evt_0001", "event")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(ADMIN)
    shot("Sign in to Hookline", "sign-in")
    context.close()
