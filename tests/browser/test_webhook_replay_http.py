"""Bulk replay from a webhook's page over plain HTTP, against the real server on both
databases: the form, its CSRF check, the service's refusals beside their fields, a 409 that
links to the replay already queued, a viewer refused, and the progress panel's counts once a
worker has done the task. (test_webhook_replay_browser.py drives the same in Chromium.)"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from .conftest import People, csrf_of, make_user
from .test_console_http import ADMIN

VIEWER = "viewer@example.com"
#: what the console's datetime-local inputs take: UTC, to the minute
MINUTE = "%Y-%m-%dT%H:%M"


def utc_input(offset_s: float) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_s)).strftime(
        MINUTE
    )


def held_webhook(server: Any, url: str, types: dict[str, int]) -> str:
    """A disabled webhook with ``types[t]`` events of each type published to it: held."""
    made = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": url, "name": "Replayed", "event_types": sorted(types), "enabled": False},
    )
    assert made.status_code == 201, made.text
    sub_id: str = made.json()["id"]
    events = [{"type": t} for t, n in types.items() for _ in range(n)]
    published = server.api("POST", "/events/batch", json={"events": events})
    assert published.status_code == 202, published.text
    return sub_id


def _tasks(server: Any, sub_id: str) -> list[dict[str, Any]]:
    found = server.api("GET", f"/tasks?subscription_id={sub_id}")
    assert found.status_code == 200, found.text
    return list(found.json()["tasks"])


def test_replay_form_refusals_conflict_and_progress(
    launcher: Any, database_url: str, people: People, receiver: Any
) -> None:
    make_user(launcher, database_url, ADMIN)
    make_user(launcher, database_url, VIEWER, "viewer")
    # the API alone, no worker: a task stays queued until the worker below starts
    server = launcher.api_only(database_url)
    sub_id = held_webhook(
        server, receiver.url("/replayed"), {"message.received": 2, "message.sent": 1}
    )
    admin = people.signed_in(server, ADMIN)
    page = admin.get(f"/webhooks/{sub_id}")
    assert page.status_code == 200
    assert f'action="/console/webhooks/{sub_id}/replay"' in page.text
    for label in ("Created since (UTC)", "Created before (UTC)", ">Replay deliveries</button>"):
        assert label in page.text, label
    for t in ("message.received", "message.sent"):  # the webhook's types, to tick
        assert f'name="event_types" value="{t}"' in page.text, t
    assert "Latest replay" not in page.text  # none yet
    token = csrf_of(page.text)
    path = f"/webhooks/{sub_id}/replay"
    form: dict[str, Any] = {
        "status": "held",
        "since": utc_input(-3600),
        "until": "",
        "event_types": ["message.received"],
    }

    # without the session's CSRF token, nothing is started
    for data in (form, {**form, "csrf_token": "x" * 43}):
        refused = admin.post(path, data)
        assert refused.status_code == 403 and "This form has expired" in refused.text
    # each refusal of the service, in words, beside its field, the form filled as sent
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"since": ""}, "since", "give the time to replay from"),
        ({"since": "soon"}, "since", "give a date and time, as 2026-01-31T09:30"),
        ({"since": utc_input(3600)}, "since", "must not be in the future"),
        ({"until": utc_input(-7200)}, "until", "must be later than since"),
        ({"status": "pending"}, "status", "must be one of failed, held, succeeded"),
        (
            {"event_types": ["message.bounced"]},
            "event_types",
            "the subscription does not take &#39;message.bounced&#39;",
        ),
    ]
    for change, field, words in refusals:
        resp = admin.post(path, {**form, "csrf_token": token, **change})
        assert resp.status_code == 422, (change, resp.text)
        assert re.search(rf'id="replay_{field}-error">[^<]*{re.escape(words)}', resp.text), change
        assert f'aria-describedby="replay_{field}-error"' in resp.text, change
        assert "The replay was not started" in resp.text
    # a disabled webhook's replay would only be held again: 409, said so
    disabled = admin.post(path, {**form, "csrf_token": token})
    assert disabled.status_code == 409 and "This webhook is disabled: enable it first" in (
        disabled.text
    )
    assert _tasks(server, sub_id) == []

    on = server.api("PATCH", f"/webhooks/subscriptions/{sub_id}", json={"enabled": True})
    assert on.status_code == 200, on.text  # without `held`: they stay held
    started = admin.post(path, {**form, "csrf_token": token})
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    found = re.fullmatch(rf"/console/webhooks/{sub_id}/tasks/(\S+)", location)
    assert found, location
    task_id = found.group(1)
    assert [t["id"] for t in _tasks(server, sub_id)] == [task_id]
    task_page = admin.client.get(location)
    assert task_page.status_code == 200 and "<h1>Replay of Replayed</h1>" in task_page.text
    queued = admin.get(f"/webhooks/{sub_id}/tasks/{task_id}/progress")
    assert queued.status_code == 200 and "<html" not in queued.text  # the panel alone
    assert 'class="task-state queued">queued<' in queued.text
    assert 'class="task-total">2<' in queued.text  # the two held message.received
    assert 'hx-trigger="every 1s"' in queued.text  # it asks again while queued

    # one at a time: another is a 409 that links to the queued one's progress
    again = admin.post(path, {**form, "csrf_token": token, "status": "failed"})
    assert again.status_code == 409
    assert "A replay of this webhook is queued already" in again.text
    assert f'href="/console/webhooks/{sub_id}/tasks/{task_id}">see its progress' in again.text
    # the webhook's page shows its latest replay, polling
    latest = admin.get(f"/webhooks/{sub_id}").text
    assert "Latest replay" in latest and f'id="task-{task_id}" hx-get=' in latest

    # a viewer reads the progress but has no form, and its post is refused
    viewer = people.signed_in(server, VIEWER)
    seen = viewer.get(f"/webhooks/{sub_id}").text
    assert "Latest replay" in seen and task_id in seen
    assert f'action="/console/webhooks/{sub_id}/replay"' not in seen
    assert viewer.get(f"/webhooks/{sub_id}/tasks/{task_id}").status_code == 200
    refused = viewer.post(path, {**form, "csrf_token": viewer.token()})
    assert refused.status_code == 403 and "A viewer cannot change anything." in refused.text
    assert len(_tasks(server, sub_id)) == 1

    # a worker does the task: the receiver gets the two, the panel shows the counts and stops
    launcher.worker(database_url)
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/replayed"]) >= 2, 30)
    deadline = time.monotonic() + 30
    while True:
        done = admin.get(f"/webhooks/{sub_id}/tasks/{task_id}/progress").text
        if "task-state succeeded" in done:
            break
        assert time.monotonic() < deadline, done
        time.sleep(0.05)
    assert 'class="task-requeued">2<' in done and 'class="task-skipped">0<' in done
    assert "hx-trigger" not in done  # finished: no more polling
    assert re.search(r"<dt>Finished</dt><dd><time datetime=\"\d{4}-", done)
    assert len(receiver.at("/replayed")) == 2  # message.sent stayed held

    # a deleted webhook's task is still shown, without its webhook (and polls no more)
    gone = server.api("DELETE", f"/webhooks/subscriptions/{sub_id}")
    assert gone.status_code == 204, gone.text
    orphan = admin.get(f"/webhooks/{sub_id}/tasks/{task_id}")
    assert orphan.status_code == 200 and "<h1>Replay of a deleted webhook</h1>" in orphan.text
    assert admin.get(f"/webhooks/{sub_id}/tasks/{task_id}/progress").status_code == 200
