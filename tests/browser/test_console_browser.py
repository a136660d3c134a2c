"""The console in a real browser (Debian's Chromium, driven by Playwright) against the real
server: a person adds a webhook by its labels, copies its secret, and the secret verifies a
real delivery, on SQLite and PostgreSQL; the other tests on SQLite (conftest.ON_SQLITE)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks.webhooks import Webhook

from .conftest import ON_SQLITE, PASSWORD, People, make_user

ADMIN = "admin@example.com"


@pytest.fixture
def console(launcher: Any, database_url: str, chromium: Browser) -> Iterator[tuple[Any, Page]]:
    """A running server with an admin, and a page of a fresh browser context signed in."""
    server = launcher.serve(database_url)  # migrates: `users create` needs a current schema
    make_user(launcher, database_url, ADMIN)
    context = chromium.new_context(base_url=server.base)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = context.new_page()
    errors: list[str] = []
    # a page the CSP stops says so on the console; a 422 answer to a bad form is expected
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    yield server, page
    context.close()
    # nothing was refused by the CSP, and no script failed
    assert errors == []


def test_add_a_webhook_copy_its_secret_and_verify_a_delivery(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    page.get_by_role("link", name="Add webhook").click()
    page.get_by_label("Name", exact=True).fill("Orders")
    page.get_by_label("URL", exact=True).fill(receiver.url("/console-hook"))
    page.get_by_role("group", name="Mail").get_by_label("message.delivered").check()
    page.get_by_label("message.received", exact=True).check()
    page.get_by_role("button", name="Save webhook").click()

    expect(page.get_by_role("heading", name="Orders")).to_be_visible()
    expect(page.get_by_text("Enabled")).to_be_visible()
    url_before = page.url
    page.get_by_role("link", name="Reveal").click()
    secret = page.locator("#secret-value")
    expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]+$"))
    assert page.url == url_before  # htmx swapped the secret in; the page did not reload
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == secret.text_content()

    page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    row = page.get_by_role("row", name=re.compile("Orders"))
    expect(row).to_contain_text(receiver.url("/console-hook"))
    expect(row).to_contain_text("message.received, message.delivered")
    expect(row).to_contain_text("Enabled")

    published = server.api(
        "POST", "/events", json={"id": "evt_console_1", "type": "message.delivered", "data": {}}
    )
    assert published.status_code == 202, published.text
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.path == "/console-hook"
    payload = Webhook(copied).verify(req.body, req.headers)
    assert payload["id"] == "evt_console_1"


def verify_hmac(raw_body: bytes, signature_header: str, secret: str) -> bool:
    """Inboxroad's documented Python verifier (shared/reference), verbatim."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    try:
        provided = base64.b64decode(signature_header or "", validate=True)
    except Exception:
        return False
    return hmac.compare_digest(expected, provided)


@ON_SQLITE
def test_inboxroads_five_steps_and_its_verifier(console: tuple[Any, Page], receiver: Any) -> None:
    """Inboxroad's guide, literally: Settings -> Webhooks, add webhook, a Name and the HTTPS
    URL, the Events and Sending Domains, enabled by default, the HMAC secret copied with its
    button; the copied secret verifies the next delivery with Inboxroad's own verifier."""
    server, page = console
    page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="Add webhook").click()
    page.get_by_label("Name", exact=True).fill("Campaign events")
    page.get_by_label("URL", exact=True).fill(receiver.url("/inboxroad"))
    page.get_by_label("message.opened", exact=True).check()
    page.get_by_label("Sending domains").fill("mail.example.com")
    page.get_by_label("Profile").select_option("inboxroad")
    page.get_by_role("button", name="Save webhook").click()

    expect(page.get_by_role("heading", name="Campaign events")).to_be_visible()
    expect(page.get_by_text("Enabled")).to_be_visible()
    page.get_by_role("link", name="Reveal").click()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")

    for event_id, domain in (("evt_other_domain", "other.example"), ("evt_ir_1", None)):
        data = {"message_id": event_id}
        body: dict[str, Any] = {"id": event_id, "type": "message.opened", "data": data}
        body["domain"] = domain or "mail.example.com"
        published = server.api("POST", "/events", json=body)
        assert published.status_code == 202, published.text
    # the sending-domain filter let only the second through
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.path == "/inboxroad"
    assert verify_hmac(req.body, req.headers["X-Signature"], copied)
    assert not verify_hmac(req.body, req.headers["X-Signature"], copied + "x")
    sent = json.loads(req.body)
    assert sent["kind"] == "open" and sent["message_id"] == "evt_ir_1"


@ON_SQLITE
def test_field_errors_rotate_disable_and_delete(console: tuple[Any, Page], receiver: Any) -> None:
    _, page = console
    page.get_by_role("link", name="Add webhook").click()
    page.get_by_label("Name", exact=True).fill("Bounces")
    page.get_by_label("URL", exact=True).fill(receiver.url("/b"))
    page.get_by_role("button", name="Save webhook").click()
    # nothing chosen: the error sits with the event types, and what was typed is kept
    events = page.get_by_role("group", name="Event types")
    expect(events).to_contain_text("must name at least one event type")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Bounces")
    page.get_by_label("message.bounced", exact=True).check()
    page.get_by_label("Custom headers").fill("not a header line")
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_label("Custom headers")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#headers-error")).to_contain_text("one header per line")
    page.get_by_label("Custom headers").fill("X-Team: billing")
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_role("heading", name="Bounces")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    # header values are secrets: read back masked, and the mask sent back keeps the value
    expect(page.get_by_label("Custom headers")).to_have_value("X-Team: ••••••••")
    expect(page.get_by_label("message.bounced", exact=True)).to_be_checked()
    page.get_by_label("Name", exact=True).fill("Bounces EU")
    page.get_by_label("Sending domains").fill("eu.example.com, mail.example.org")
    page.get_by_label("URL", exact=True).fill("ftp://nowhere")
    page.get_by_role("button", name="Save webhook").click()
    expect(page.locator("#url-error")).to_contain_text("https://")
    page.get_by_label("URL", exact=True).fill(receiver.url("/b2"))
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_role("heading", name="Bounces EU")).to_be_visible()
    expect(page.get_by_text("eu.example.com, mail.example.org")).to_be_visible()
    expect(page.get_by_text(receiver.url("/b2"))).to_be_visible()

    page.get_by_role("link", name="Reveal").click()
    first = page.locator("#secret-value").text_content()
    page.get_by_label("Old secret keeps working for").select_option(label="1 hour")
    page.get_by_role("button", name="Rotate").click()
    expect(page.get_by_role("status").first).to_contain_text("keeps signing for 3600 seconds")
    expect(page.locator("#secret-value")).not_to_have_text(first or "")

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Disabled", exact=True)).to_be_visible()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("Enabled", exact=True)).to_be_visible()

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete webhook Bounces EU?")).to_be_visible()
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()


@ON_SQLITE
def test_changing_the_password_by_keyboard_signs_out_everywhere(
    console: tuple[Any, Page], people: People
) -> None:
    server, page = console
    elsewhere = people.signed_in(server, ADMIN)
    page.get_by_role("link", name=ADMIN).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_label("New password again").press("Enter")  # the keyboard submits the form
    expect(page.get_by_role("heading", name="Sign in to Hookline")).to_be_visible()
    assert elsewhere.get("/webhooks").status_code == 303  # the other session ended too
    page.goto("/console/webhooks")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("a brand new passphrase")
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
