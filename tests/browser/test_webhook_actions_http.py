"""A webhook's actions over plain HTTP, against the real server: the add form sent twice
creates one webhook; viewers see no test send or recover form and their posts are refused;
an agent cannot act on another identity's webhook."""

from __future__ import annotations

import re
from typing import Any

from .conftest import People, make_user
from .test_console_http import ADMIN, add_webhook

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def test_the_add_form_sent_twice_creates_one_webhook(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    admin = people.signed_in(server, ADMIN)
    form = admin.get("/webhooks/new").text
    found = FORM_TOKEN.search(form)
    assert found, "the add form carries no one-time token"
    data = {
        "csrf_token": admin.token("/webhooks/new"),
        "form_token": found.group(1),
        "name": "Once",
        "url": "http://127.0.0.1:9/once",
        "event_types": ["message.received"],
    }
    first = admin.post("/webhooks/new", data)
    again = admin.post("/webhooks/new", data)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    listed = server.api("GET", "/webhooks/subscriptions").json()["subscriptions"]
    assert [s["name"] for s in listed] == ["Once"]
    # a new form is a new webhook
    other = FORM_TOKEN.search(admin.get("/webhooks/new").text)
    assert other and other.group(1) != found.group(1)
    third = admin.post("/webhooks/new", {**data, "form_token": other.group(1)})
    assert third.status_code == 303 and third.headers["location"] != first.headers["location"]
    # deleting asks first: the Delete link opens a confirmation, which deletes nothing
    once_id = first.headers["location"].rsplit("/", 1)[-1]
    asked = admin.get(f"/webhooks/{once_id}/delete")
    assert asked.status_code == 200 and "This cannot be undone." in asked.text
    assert server.api("GET", f"/webhooks/subscriptions/{once_id}").status_code == 200


def test_a_viewer_sees_no_test_send_or_recover_and_cannot_post_them(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    make_user(launcher, sqlite_url, "viewer@example.com", "viewer")
    server = launcher.serve(sqlite_url)
    admin = people.signed_in(server, ADMIN)
    sub_id = add_webhook(admin, "seen")
    assert server.api("PATCH", f"/webhooks/subscriptions/{sub_id}", json={"enabled": False})
    admin_page = admin.get(f"/webhooks/{sub_id}").text
    assert "Send test event" in admin_page and "Recover failed deliveries since" in admin_page
    viewer = people.signed_in(server, "viewer@example.com")
    page = viewer.get(f"/webhooks/{sub_id}").text
    assert "Health" in page and "disabled by request" in page  # reading is allowed
    for form in ("Send test event", "Recover failed deliveries since", ">Enable<"):
        assert form not in page, form
    token = viewer.token()
    posts = {
        f"/webhooks/{sub_id}/test": {"event_type": "message.received"},
        f"/webhooks/{sub_id}/recover": {"since": "2026-01-01T00:00"},
        f"/webhooks/{sub_id}/enable": {},
    }
    for path, data in posts.items():
        assert viewer.post(path, {"csrf_token": token, **data}).status_code == 403, path
    assert viewer.get(f"/webhooks/{sub_id}/recover?since=2026-01-01T00:00").status_code == 403
    assert server.api("GET", f"/webhooks/subscriptions/{sub_id}").json()["enabled"] is False


def test_an_agent_cannot_test_recover_or_enable_another_identitys_webhook(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    for handle in ("agent-a", "agent-b"):
        resp = server.api("POST", "/identities", json={"agent_handle": handle})
        assert resp.status_code == 201, resp.text
    make_user(launcher, sqlite_url, "a@example.com", "agent", agent_handle="agent-a")
    make_user(launcher, sqlite_url, "b@example.com", "agent", agent_handle="agent-b")
    agent_a = people.signed_in(server, "a@example.com")
    agent_b = people.signed_in(server, "b@example.com")
    own = add_webhook(agent_a, "a's hook")
    server.api("PATCH", f"/webhooks/subscriptions/{own}", json={"enabled": False})
    token = agent_b.token()
    posts = {
        "test": {"event_type": "message.received"},
        "recover": {"since": "2026-01-01T00:00"},
        "enable": {},
    }
    for action, data in posts.items():
        resp = agent_b.post(f"/webhooks/{own}/{action}", {"csrf_token": token, **data})
        assert resp.status_code == 404, action
    for path in ("example?event_type=message.received", "recover?since=2026-01-01T00:00"):
        assert agent_b.get(f"/webhooks/{own}/{path}").status_code == 404, path
    assert server.api("GET", f"/webhooks/subscriptions/{own}").json()["enabled"] is False
    # the owner may: its recover asks first, then answers how many were re-queued
    confirm = agent_a.get(f"/webhooks/{own}/recover?since=2026-01-01T00:00")
    assert confirm.status_code == 200 and "Recover deliveries" in confirm.text
    done = agent_a.post(
        f"/webhooks/{own}/recover", {"csrf_token": agent_a.token(), "since": "2026-01-01T00:00"}
    )
    assert done.status_code == 200 and "0 failed deliveries were re-queued." in done.text
    bad = agent_a.post(f"/webhooks/{own}/recover", {"csrf_token": agent_a.token(), "since": "soon"})
    assert bad.status_code == 422 and "give a date and time" in bad.text


def test_test_send_without_htmx_and_offered_domains(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    admin = people.signed_in(server, ADMIN)
    sub_id = add_webhook(admin, "refused")  # nothing listens on port 9
    token = admin.token()
    page = admin.post(
        f"/webhooks/{sub_id}/test", {"csrf_token": token, "event_type": "message.sent"}
    )
    assert page.status_code == 200 and "<html" in page.text  # the whole page, without htmx
    assert "Test event message.sent: failed" in page.text
    fragment = admin.post(
        f"/webhooks/{sub_id}/test",
        {"csrf_token": token, "event_type": "message.bounced"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Not sent: the subscription does not take &#39;message.bounced&#39;" in fragment.text
    refused = admin.post(f"/webhooks/{sub_id}/test", {"csrf_token": token, "event_type": "nope"})
    assert refused.status_code == 422 and "is not a subscribable type" in refused.text

    for domain in ("b.example", "a.example"):
        event = {"type": "message.received", "data": {}, "domain": domain}
        assert server.api("POST", "/events", json=event).status_code == 202
    form = admin.get("/webhooks/new").text
    assert form.index('value="a.example"') < form.index('value="b.example"')  # newest first
    created = admin.post(
        "/webhooks/new",
        {
            "csrf_token": token,
            "form_token": "t-1",
            "url": "http://127.0.0.1:9/d",
            "event_types": ["message.received"],
            "domains": "typed.example, a.example",
            "domain_choices": ["a.example", "b.example"],
        },
    )
    assert created.status_code == 303, created.text
    new_id = created.headers["location"].rsplit("/", 1)[-1]
    sub = server.api("GET", f"/webhooks/subscriptions/{new_id}").json()
    assert sub["filters"]["domains"] == ["typed.example", "a.example", "b.example"]
    edit = admin.get(f"/webhooks/{new_id}/edit").text
    assert 'value="typed.example"' in edit  # the typed one stays typed; offered ones ticked
    assert re.search(r'value="a\.example" checked', edit)
    assert re.search(r'value="b\.example" checked', edit)
