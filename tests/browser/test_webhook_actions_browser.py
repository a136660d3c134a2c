"""A webhook's page in a real browser (on SQLite: conftest.ON_SQLITE): send a test event, recover
failed deliveries, read the health chart and the list's sparkline, enable a disabled
webhook; and axe-core finds no serious accessibility problem on any console page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from . import test_console_browser as _shared
from .conftest import ON_SQLITE

pytestmark = ON_SQLITE

# the signed-in browser of test_console_browser.py, offered to these tests too
console = _shared.console

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def _webhook(server: Any, url: str, name: str, **extra: Any) -> str:
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": url, "name": name, "event_types": ["message.received", "message.bounced"]}
        | extra,
    )
    assert resp.status_code == 201, resp.text
    sub_id: str = resp.json()["id"]
    return sub_id


def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_send_a_test_event_and_see_the_outcome_inline(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    sub_id = _webhook(server, receiver.url("/t"), "Tested")
    page.goto(f"/console/webhooks/{sub_id}")
    expect(page.locator("#test-example")).to_contain_text('"message_id"')
    page.get_by_role("region", name="Send a test event").get_by_label("Event type").select_option(
        "message.bounced"
    )
    expect(page.locator("#test-example")).to_contain_text("example data of message.bounced")
    url_before = page.url
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#test-result")).to_contain_text(
        re.compile(r"Test event message\.bounced: delivered, answered 200 in \d+ ms\.")
    )
    assert page.url == url_before  # htmx showed the outcome in place
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.path == "/t" and b"message.bounced" in req.body
    receiver.plan("/t", [500])
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#test-result")).to_contain_text("failed, answered 500")


def test_recover_requeues_a_failed_delivery_after_confirmation(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    receiver.plan("/r", [500])
    sub_id = _webhook(server, receiver.url("/r"), "Recovered")
    published = server.api(
        "POST", "/events", json={"id": "evt_recover_1", "type": "message.received", "data": {}}
    )
    assert published.status_code == 202, published.text

    def state() -> str:
        found = server.api("GET", "/events/evt_recover_1/deliveries").json()
        return str(found["deliveries"][0]["state"])

    _until(lambda: state() == "failed")
    tries = len(receiver.at("/r"))
    receiver.plan("/r", [200])
    page.goto(f"/console/webhooks/{sub_id}")
    expect(page.get_by_text(re.compile(r"^Failing since \d{4}-"))).to_be_visible()
    expect(page.locator("#health-summary")).to_contain_text(f"0 % (0 succeeded, {tries} failed)")
    since = page.get_by_label("Recover failed deliveries since")
    assert since.input_value()  # 24 hours ago by default
    page.get_by_role("button", name="Recover", exact=True).click()
    expect(
        page.get_by_role("heading", name="Recover failed deliveries of Recovered?")
    ).to_be_visible()
    assert len(receiver.at("/r")) == tries  # nothing happens before the confirmation
    page.get_by_role("button", name="Recover deliveries").click()
    expect(page.get_by_role("status")).to_have_text("1 failed delivery was re-queued.")
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/r"]) == tries + 1)
    _until(lambda: state() == "succeeded")


def test_health_chart_and_sparkline_show_the_numbers(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    sub_id = _webhook(server, receiver.url("/h"), "Charted")
    receiver.plan("/h", [200, 200, 200, 503])
    for _ in range(4):
        sent = server.api(
            "POST",
            f"/webhooks/subscriptions/{sub_id}/test",
            json={"event_type": "message.received"},
        )
        assert sent.status_code == 200, sent.text
    page.goto(f"/console/webhooks/{sub_id}")
    summary = "75 % (3 succeeded, 1 failed)"
    expect(page.locator("#health-summary")).to_contain_text(summary)
    chart = page.get_by_role("img", name=re.compile("Attempts per hour"))
    expect(chart).to_have_accessible_name(re.compile(re.escape(summary)))
    expect(chart.locator("rect.ok")).to_have_count(1)
    expect(chart.locator("rect.bad")).to_have_count(1)
    hours = page.get_by_role("table").filter(has_text="Attempts per hour")
    expect(hours.get_by_role("row")).to_have_count(2)  # the header and the one busy hour
    expect(hours.get_by_role("row").nth(1)).to_contain_text(re.compile(r"Z\s*3\s*1$"))
    expect(page.get_by_text(re.compile(r"^Last attempt: 503 at"))).to_be_visible()

    page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    row = page.get_by_role("row", name=re.compile("Charted"))
    expect(row.get_by_role("img")).to_have_accessible_name(
        "Last 24 hours: 75 % succeeded (3 succeeded, 1 failed)"
    )
    expect(row).to_contain_text("503 at")
    expect(row).to_contain_text("75 %")


def test_enable_a_disabled_webhook_from_its_health(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    sub_id = _webhook(server, receiver.url("/e"), "Paused", enabled=False)
    page.goto(f"/console/webhooks/{sub_id}")
    health = page.get_by_role("region", name="Health")
    expect(health).to_contain_text("This webhook is disabled")
    health.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("Enabled", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Health")).not_to_contain_text("disabled")
    assert server.api("GET", f"/webhooks/subscriptions/{sub_id}").json()["enabled"] is True


def _serious_violations(page: Page) -> list[str]:
    # evaluated through the DevTools protocol: the console's CSP refuses inline script tags
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document);
            return r.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
        }"""
    )
    return [str(v) for v in found]


def test_no_serious_accessibility_violation_on_any_page(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    sub_id = _webhook(server, receiver.url("/a"), "Checked")
    published = server.api(
        "POST",
        "/events",
        json={"id": "evt_a11y", "type": "message.received", "data": {}, "domain": "a.example"},
    )
    assert published.status_code == 202, published.text
    sent = server.api(
        "POST", f"/webhooks/subscriptions/{sub_id}/test", json={"event_type": "message.received"}
    )
    assert sent.status_code == 200, sent.text
    pages = {
        "/console/webhooks": "Webhooks",
        "/console/webhooks/new": "Add webhook",
        f"/console/webhooks/{sub_id}": "Checked",
        f"/console/webhooks/{sub_id}/edit": "Edit Checked",
        f"/console/webhooks/{sub_id}/recover?since=2026-01-01T00:00": "Recover failed",
        "/console/catalog": "Event catalog",
        "/console/account": "Your account",
        "/console/users": "Users",
    }
    problems: dict[str, list[str]] = {}
    for path, heading in pages.items():
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        problems[path] = _serious_violations(page)
    # the add form offers the domain the event named
    page.goto("/console/webhooks/new")
    expect(page.get_by_role("group", name="Sending domains your events named")).to_contain_text(
        "a.example"
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Hookline")).to_be_visible()
    problems["/console/sign-in"] = _serious_violations(page)
    assert {p: v for p, v in problems.items() if v} == {}
