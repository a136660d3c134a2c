"""A webhook's attempt log in a real browser (Chromium through Playwright) against the real
server and a real receiver (on SQLite: conftest.ON_SQLITE): both attempts of a delivery that failed
then succeeded, filtered by outcome in place, one opened to its headers and body, replayed."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import ON_SQLITE
from .test_console_browser import console  # noqa: F401  (a fixture)

pytestmark = ON_SQLITE

WAIT_S = 20.0


def _logged(server: Any, sub_id: str, n: int) -> list[dict[str, Any]]:
    """The webhook's attempts once ``n`` are logged (outcomes are written in batches)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        resp = server.api("GET", "/webhooks/deliveries", params={"subscription_id": sub_id})
        found: list[dict[str, Any]] = resp.json()["deliveries"]
        if len(found) >= n or time.monotonic() > deadline:
            assert len(found) >= n, found
            return found
        time.sleep(0.05)


def test_attempt_log_filters_opens_and_replays(
    console: tuple[Any, Page],  # noqa: F811
    receiver: Any,
) -> None:
    server, page = console
    receiver.plan("/flaky", [500, 200])
    created = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/flaky"),
            "event_types": ["message.delivered"],
            "name": "Flaky",
            "retry_schedule": [0, 1],
        },
    )
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    quiet = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/quiet"), "event_types": ["message.read"], "name": "Quiet"},
    ).json()["id"]

    page.goto(f"/console/webhooks/{quiet}")
    expect(page.get_by_text("No attempts yet.")).to_be_visible()

    published = server.api(
        "POST", "/events", json={"id": "evt_log_1", "type": "message.delivered", "data": {}}
    )
    assert published.status_code == 202, published.text
    _logged(server, sub_id, 2)

    page.goto(f"/console/webhooks/{sub_id}")
    log = page.get_by_role("table", name="Attempts", exact=True)
    rows = log.get_by_role("row")
    expect(rows).to_have_count(3)  # the header and both attempts, newest first
    expect(rows.nth(1)).to_contain_text("200")
    expect(rows.nth(1)).to_contain_text("Succeeded")
    expect(rows.nth(2)).to_contain_text("500")
    expect(rows.nth(2)).to_contain_text("Failed")

    url_before = page.url
    page.get_by_label("Outcome").select_option("Failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("500")
    assert page.url == url_before  # htmx swapped the results in place

    rows.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="Attempt: message.delivered")).to_be_visible()
    sent = page.get_by_role("table", name="Request headers")
    expect(sent.get_by_role("row", name=re.compile("webhook-signature"))).to_contain_text("v1,")
    expect(page.get_by_label("Request body")).to_contain_text('"id": "evt_log_1"')
    expect(page.get_by_text("answer 500")).to_be_visible()  # the receiver's body
    received = page.get_by_role("table", name="Response headers")
    expect(received.get_by_role("row", name=re.compile("Content-Type", re.I))).to_be_visible()

    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("the receiver answered 200")
    replays = receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/flaky"]) >= 3)
    assert [r for r in replays if r.path == "/flaky"][-1].headers["webhook-id"] == "evt_log_1"
    page.get_by_role("link", name="See the new attempt").click()
    expect(page.get_by_role("heading", name="Attempt: message.delivered")).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_be_visible()
