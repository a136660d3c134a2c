"""Bulk replay from a webhook's page in a real browser (on SQLite: conftest.ON_SQLITE): a person
fills the form by its labels with the keyboard, submits it, and watches the task's progress
(polled by htmx, no reload) reach "succeeded" with the count the receiver got; axe-core finds
no serious accessibility problem on the form or the task's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from . import test_console_browser as _shared
from .conftest import ON_SQLITE, PASSWORD, make_user
from .test_webhook_actions_browser import _serious_violations
from .test_webhook_replay_http import held_webhook, utc_input

pytestmark = ON_SQLITE

# Debian's Chromium, per test, from test_console_browser.py
#: one delivery per batch: the task takes at least HELD batches' pauses (50 ms each), so the
#: page opens on a task still queued or running and the panel has to follow it
HELD = 60


@pytest.fixture
def console(launcher: Any, database_url: str, chromium: Browser) -> Iterator[tuple[Any, Page]]:
    """test_console_browser.py's signed-in page, on a server that replays a delivery a batch."""
    server = launcher.serve(database_url, HOOKLINE_REPLAY_BATCH="1")
    make_user(launcher, database_url, _shared.ADMIN)
    context = chromium.new_context(base_url=server.base)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/console/sign-in")
    page.get_by_label("Email").fill(_shared.ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    yield server, page
    context.close()
    assert errors == []  # nothing refused by the CSP, no script failed


def test_replay_held_deliveries_and_watch_the_task_finish(
    console: tuple[Any, Page], receiver: Any
) -> None:
    server, page = console
    sub_id = held_webhook(
        server, receiver.url("/again"), {"message.received": HELD, "message.sent": 2}
    )
    on = server.api("PATCH", f"/webhooks/subscriptions/{sub_id}", json={"enabled": True})
    assert on.status_code == 200, on.text  # the held deliveries stay held
    page.goto(f"/console/webhooks/{sub_id}")
    form = page.get_by_role("region", name="Replay deliveries")
    assert _serious_violations(page) == []

    # by label and keyboard alone
    form.get_by_label("Deliveries that are").select_option("held")
    form.get_by_label("Created since (UTC)").fill(utc_input(-3600))
    expect(form.get_by_label("Created before (UTC)")).to_have_value("")  # empty: now
    form.get_by_label("message.received").focus()
    page.keyboard.press("Space")
    expect(form.get_by_label("message.received")).to_be_checked()
    expect(form.get_by_label("message.sent")).not_to_be_checked()
    form.get_by_role("button", name="Replay deliveries").focus()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Replay of Replayed")
    expect(page).to_have_url(re.compile(rf"/console/webhooks/{sub_id}/tasks/task_"))
    state = page.locator(".task-state")
    # the page opened on a task not yet done, and is never loaded again: htmx follows it
    expect(state).to_have_text(re.compile(r"^(queued|running)$"))
    page.evaluate("window.replayPageMark = 1")
    expect(state).to_have_text("succeeded", timeout=60_000)
    assert page.evaluate("window.replayPageMark") == 1
    expect(page.locator(".task-total")).to_have_text(str(HELD))
    expect(page.locator(".task-requeued")).to_have_text(str(HELD))
    expect(page.locator(".task-skipped")).to_have_text("0")
    expect(page.locator(".task[hx-trigger]")).to_have_count(0)  # done: polling stopped
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/again"]) >= HELD, 30)
    bodies = [r.body for r in receiver.at("/again")]
    assert len(bodies) == HELD and all(b"message.received" in b for b in bodies)
    assert _serious_violations(page) == []

    # the webhook's page shows it as its latest replay, linked
    page.get_by_role("link", name="Replayed").click()
    latest = page.get_by_role("region", name="Replay deliveries")
    expect(latest.locator(".task-state")).to_have_text("succeeded")
    expect(latest.get_by_role("link", name=re.compile(r"^task_"))).to_be_visible()
