"""A webhook's attempt log over plain HTTP against the real server: who sees it and who may
replay (agents their own webhooks only, viewers read-only), the filters and "Older" pages
without JavaScript, and bad filter values named."""

from __future__ import annotations

import re
from typing import Any

from .conftest import People, csrf_of, make_user
from .test_console_http import add_webhook

ADMIN = "admin@example.com"
_ATTEMPT_LINK = re.compile(r'href="/console/webhooks/[^/"]+/attempts/([0-9a-f-]{36})"')


def _test_send(server: Any, sub_id: str, event_type: str = "message.received") -> None:
    sent = server.api(
        "POST", f"/webhooks/subscriptions/{sub_id}/test", json={"event_type": event_type}
    )
    assert sent.status_code == 200, sent.text


def test_agents_see_only_their_own_attempts_and_viewers_cannot_replay(
    launcher: Any, sqlite_url: str, people: People, receiver: Any
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    make_user(launcher, sqlite_url, "viewer@example.com", "viewer")
    server = launcher.serve(sqlite_url)
    for handle in ("agent-a", "agent-b"):
        assert server.api("POST", "/identities", json={"agent_handle": handle}).status_code == 201
    make_user(launcher, sqlite_url, "a@example.com", "agent", agent_handle="agent-a")
    make_user(launcher, sqlite_url, "b@example.com", "agent", agent_handle="agent-b")
    agent_a = people.signed_in(server, "a@example.com")
    agent_b = people.signed_in(server, "b@example.com")
    viewer = people.signed_in(server, "viewer@example.com")
    own = add_webhook(agent_a, "a's hook", receiver.url("/a"))
    _test_send(server, own)

    page = agent_a.get(f"/webhooks/{own}")
    assert page.status_code == 200
    [attempt_id] = _ATTEMPT_LINK.findall(page.text)
    attempt_path = f"/webhooks/{own}/attempts/{attempt_id}"
    shown = agent_a.get(attempt_path)
    assert shown.status_code == 200 and ">Replay</button>" in shown.text
    replayed = agent_a.post(attempt_path + "/replay", {"csrf_token": csrf_of(shown.text)})
    assert replayed.status_code == 200 and "the receiver answered 200" in replayed.text
    assert len(receiver.at("/a")) == 2

    # another identity's webhook, its log and its attempts are not found, nor replayable
    for path in (f"/webhooks/{own}", f"/webhooks/{own}/attempts", attempt_path):
        assert agent_b.get(path).status_code == 404, path
    resp = agent_b.post(attempt_path + "/replay", {"csrf_token": agent_b.token()})
    assert resp.status_code == 404
    # an attempt is found only under its own webhook
    other = add_webhook(agent_a, "a's other hook", receiver.url("/a2"))
    assert agent_a.get(f"/webhooks/{other}/attempts/{attempt_id}").status_code == 404

    # a viewer reads the log and the attempt, without a Replay button, and may not post
    assert attempt_id in viewer.get(f"/webhooks/{own}").text
    seen = viewer.get(attempt_path)
    assert seen.status_code == 200 and "webhook-signature" in seen.text
    assert ">Replay</button>" not in seen.text
    resp = viewer.post(attempt_path + "/replay", {"csrf_token": viewer.token()})
    assert resp.status_code == 403
    assert len(receiver.at("/a")) == 2  # neither refused post sent anything


def test_filters_and_older_pages_work_without_javascript(
    launcher: Any, sqlite_url: str, people: People, receiver: Any
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    admin = people.signed_in(server, ADMIN)
    sub = add_webhook(admin, "busy", receiver.url("/busy"))
    receiver.plan("/busy", [503, *([200] * 29)])
    for i in range(30):
        _test_send(server, sub, "message.sent" if i == 0 else "message.received")

    page = admin.get(f"/webhooks/{sub}")
    first = _ATTEMPT_LINK.findall(page.text)
    assert len(first) == 25
    older = re.search(r'<a href="\?([^"]*cursor=[^"]+)"', page.text)
    assert older, "no Older link"
    rest = admin.get(f"/webhooks/{sub}?" + older.group(1).replace("&amp;", "&"))
    second = _ATTEMPT_LINK.findall(rest.text)
    assert len(second) == 5 and not set(first) & set(second)
    assert "cursor=" not in rest.text  # the last page has no Older link

    failed = admin.get(f"/webhooks/{sub}", params={"outcome": "failed"}).text
    assert len(_ATTEMPT_LINK.findall(failed)) == 1 and ">503<" in failed
    by_status = admin.get(f"/webhooks/{sub}", params={"status_code": "503"}).text
    assert _ATTEMPT_LINK.findall(by_status) == _ATTEMPT_LINK.findall(failed)
    by_type = admin.get(f"/webhooks/{sub}/attempts", params={"event_type": "message.sent"})
    assert _ATTEMPT_LINK.findall(by_type.text) == _ATTEMPT_LINK.findall(failed)
    future = admin.get(f"/webhooks/{sub}", params={"since": "2999-01-01T00:00"}).text
    assert "No attempts match these filters." in future

    for params, shown in (
        ({"status_code": "abc"}, "Status code: must be a number from 100 to 599"),
        ({"since": "yesterday"}, "From: must be a date and time"),
        ({"cursor": "garbage!"}, "Page: not a cursor this server returned"),
    ):
        resp = admin.get(f"/webhooks/{sub}/attempts", params=params)
        assert resp.status_code == 422, params
        assert shown in resp.text, params
