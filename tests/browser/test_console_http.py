"""The console over plain HTTP, against the real server: sessions, CSRF, throttling,
headers, roles. (test_console_browser.py drives the same pages in Chromium.)"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from typing import Any

import httpx

from .conftest import PASSWORD, Browser, People, cli, csrf_of, make_user

ADMIN = "admin@example.com"


def add_webhook(browser: Browser, name: str, url: str = "http://127.0.0.1:9/hook") -> str:
    resp = browser.post(
        "/webhooks/new",
        {
            "csrf_token": browser.token("/webhooks/new"),
            "name": name,
            "url": url,
            "event_types": ["message.received", "message.sent"],
        },
    )
    assert resp.status_code == 303, resp.text
    return resp.headers["location"].rsplit("/", 1)[-1]


def test_first_serve_prints_a_one_time_setup_link(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    server = launcher.serve(sqlite_url)
    output = server.procs[0].output()
    link = re.search(r"http://127\.0\.0\.1:\d+(/console/setup\?token=[\w-]+)", output)
    assert link, output
    browser = people.new(server)
    form = browser.client.get(link.group(1))
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token
    data = {
        "csrf_token": csrf_of(form.text),
        "token": token.group(1),
        "email": "first@example.com",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    done = browser.post("/setup", data)
    assert done.status_code == 303
    assert done.headers["location"] == "/console/webhooks"
    assert "first@example.com" in browser.get("/webhooks").text
    # once: the same link again makes no second admin
    again = people.new(server)
    form = again.client.get(link.group(1))
    refused = again.post("/setup", {**data, "csrf_token": csrf_of(form.text), "email": "x@ex.com"})
    assert refused.status_code == 404
    listed = cli(launcher, sqlite_url, "users", "list")
    assert listed.stdout.split() == ["first@example.com", "admin", "active"]


def test_session_cookie_flags_and_security_headers(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    assert "/console/setup" not in server.procs[0].output()  # a user exists: no set-up link
    browser = people.new(server)
    sign_in_page = browser.get("/sign-in")
    csp = sign_in_page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert sign_in_page.headers["x-content-type-options"] == "nosniff"
    assert sign_in_page.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in sign_in_page.text  # every script is a file
    resp = browser.sign_in(ADMIN)
    assert resp.status_code == 303
    [cookie] = [c for c in resp.headers.get_list("set-cookie") if c.startswith("hookline_session=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/console"} <= flags
    assert "secure" not in flags  # plain HTTP here; over HTTPS the cookie is Secure
    page = browser.get("/webhooks")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-security-policy"] == csp
    # behind a proxy that says the request came over HTTPS, the cookie is Secure
    # (the client keeps no Secure cookie over plain HTTP: the form's own is handed back by hand)
    proxied = people.new(server, headers={"X-Forwarded-Proto": "https"})
    form = proxied.get("/sign-in")
    assert "secure" in form.headers["set-cookie"].lower()
    anonymous_token = csrf_of(form.text)
    resp = proxied.post(
        "/sign-in",
        {"csrf_token": anonymous_token, "email": ADMIN, "password": PASSWORD},
        headers={"Cookie": f"hookline_csrf={anonymous_token}"},
    )
    assert resp.status_code == 303
    [cookie] = [c for c in resp.headers.get_list("set-cookie") if c.startswith("hookline_session=")]
    assert "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


def test_changes_without_the_csrf_token_are_refused(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    browser = people.signed_in(server, ADMIN)
    form = {"name": "x", "url": "http://127.0.0.1:9/h", "event_types": ["message.sent"]}
    assert browser.post("/webhooks/new", form).status_code == 403
    assert browser.post("/webhooks/new", {**form, "csrf_token": "forged"}).status_code == 403
    assert "No webhooks yet" in browser.get("/webhooks").text
    token = browser.token()
    # the htmx header carries it as well as the hidden field does
    assert browser.post("/webhooks/new", form, headers={"X-CSRF-Token": token}).status_code == 303
    # sign-in's own form: without its token, refused before the password is even looked at
    anonymous = people.new(server)
    resp = anonymous.post("/sign-in", {"email": ADMIN, "password": PASSWORD})
    assert resp.status_code == 403


def test_sign_in_is_throttled_per_account_without_telling_who_exists(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url, HOOKLINE_CONSOLE_SIGN_IN_LIMIT="2")
    browser = people.new(server)
    known = [browser.sign_in(ADMIN, "wrong password!!") for _ in range(2)]
    unknown = browser.sign_in("nobody@example.com", "wrong password!!")
    assert [r.status_code for r in known] == [401, 401]
    # an unknown email gets the known one's answer, word for word
    assert unknown.status_code == 401
    assert _message(unknown.text) == _message(known[0].text) != ""
    blocked = browser.sign_in(ADMIN)  # the right password, but the account is resting
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 900
    assert "hookline_session" not in blocked.headers.get("set-cookie", "")
    # another account from the same address is not held back by this one's limit
    assert browser.sign_in("nobody2@example.com", "wrong password!!").status_code == 401


def _message(html: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', html)
    return found.group(1) if found else ""


def test_sign_in_is_throttled_per_address(launcher: Any, sqlite_url: str, people: People) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url, HOOKLINE_CONSOLE_SIGN_IN_LIMIT="1")
    browser = people.new(server)
    # an address may fail four times the account limit, each on a different email
    statuses = [browser.sign_in(f"guess{i}@example.com", "wrong password!!") for i in range(4)]
    assert [r.status_code for r in statuses] == [401] * 4
    assert _message(statuses[0].text) == "That email and password do not match an account."
    blocked = browser.sign_in(ADMIN)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1


def _last_seen_ms(sqlite_url: str) -> int:
    """When the database's console sessions were last used (each request touches its own)."""
    with contextlib.closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        (last,) = db.execute("SELECT max(last_seen_ms) FROM console_sessions").fetchone()
    assert last is not None, "no console session is stored"
    return int(last)


def test_an_idle_session_expires(launcher: Any, sqlite_url: str, people: People) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url, HOOKLINE_CONSOLE_SESSION_IDLE_S="1")
    browser = people.signed_in(server, ADMIN)
    assert browser.get("/webhooks").status_code == 200
    # idle means no request at all (each one keeps the session alive): with none, wait until
    # this machine's clock, which the server reads too, is past the idle end of the session as
    # stored, then look; the services' test (tests/integration/test_users_service.py) covers
    # the same rule with a controlled clock
    idle_end_ms = _last_seen_ms(sqlite_url) + 1000
    while time.time_ns() // 1_000_000 <= idle_end_ms:
        time.sleep(0.05)
    resp = browser.get("/webhooks")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/console/sign-in?next=")


def test_sign_out_and_a_password_reset_end_sessions(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    first, second = people.signed_in(server, ADMIN), people.signed_in(server, ADMIN)
    cookie = first.client.cookies["hookline_session"]
    out = first.post("/sign-out", {"csrf_token": first.token()})
    assert out.status_code == 303
    replayed = httpx.get(
        server.base + "/console/webhooks", cookies={"hookline_session": cookie}, timeout=30
    )
    assert replayed.status_code == 303  # the old cookie's session is revoked, not just dropped
    assert second.get("/webhooks").status_code == 200
    new_password = "another long passphrase"
    done = cli(
        launcher, sqlite_url, "users", "reset-password", "--email", ADMIN,
        stdin=f"{new_password}\n{new_password}\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert second.get("/webhooks").status_code == 303
    fresh = people.new(server)
    assert fresh.sign_in(ADMIN).status_code == 401  # the old password no longer works
    assert fresh.sign_in(ADMIN, new_password).status_code == 303


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    browser = people.signed_in(server, ADMIN)
    assert cli(launcher, sqlite_url, "users", "disable", "--email", ADMIN).returncode == 0
    assert browser.get("/webhooks").status_code == 303
    assert people.new(server).sign_in(ADMIN).status_code == 401


def test_a_viewer_sees_no_forms_and_cannot_post(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    make_user(launcher, sqlite_url, "viewer@example.com", "viewer")
    server = launcher.serve(sqlite_url)
    sub_id = add_webhook(people.signed_in(server, ADMIN), "seen")
    viewer = people.signed_in(server, "viewer@example.com")
    listing = viewer.get("/webhooks").text
    assert "seen" in listing
    assert "Add webhook" not in listing
    detail = viewer.get(f"/webhooks/{sub_id}").text
    assert 'action="/console/webhooks/' not in detail  # no rotate, enable, disable, delete
    assert "Users" not in re.sub(r"<main.*", "", detail, flags=re.S)  # admins' menu entry
    token = viewer.token()
    assert "Edit" not in detail
    changes = (
        "/webhooks/new",
        f"/webhooks/{sub_id}/edit",
        f"/webhooks/{sub_id}/rotate",
        f"/webhooks/{sub_id}/disable",
        f"/webhooks/{sub_id}/delete",
    )
    for path in changes:
        assert viewer.post(path, {"csrf_token": token}).status_code == 403, path
    assert viewer.get(f"/webhooks/{sub_id}/secret").status_code == 200  # reading is allowed
    assert "Enabled" in viewer.get(f"/webhooks/{sub_id}").text
    # signing out is the one thing a viewer may post
    assert viewer.post("/sign-out", {"csrf_token": token}).status_code == 303


def test_an_agent_sees_only_its_own_webhooks(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    for handle in ("agent-a", "agent-b"):
        resp = server.api("POST", "/identities", json={"agent_handle": handle})
        assert resp.status_code == 201, resp.text
    make_user(launcher, sqlite_url, "a@example.com", "agent", agent_handle="agent-a")
    make_user(launcher, sqlite_url, "b@example.com", "agent", agent_handle="agent-b")
    agent_a, agent_b = (
        people.signed_in(server, "a@example.com"),
        people.signed_in(server, "b@example.com"),
    )
    own = add_webhook(agent_a, "a's hook")
    org_wide = add_webhook(people.signed_in(server, ADMIN), "org hook")
    listing = agent_a.get("/webhooks").text
    assert "a&#39;s hook" in listing
    assert "org hook" not in listing
    assert "a&#39;s hook" not in agent_b.get("/webhooks").text
    for path in (
        f"/webhooks/{own}",
        f"/webhooks/{own}/secret",
        f"/webhooks/{own}/edit",
        f"/webhooks/{org_wide}",
    ):
        assert agent_b.get(path).status_code == 404, path
    token = agent_b.token()
    for action in ("delete", "disable", "rotate", "edit"):
        resp = agent_b.post(f"/webhooks/{own}/{action}", {"csrf_token": token})
        assert resp.status_code == 404, action
    assert agent_a.get(f"/webhooks/{own}").status_code == 200
    created = server.api("GET", f"/webhooks/subscriptions/{own}").json()
    assert created["enabled"] is True  # agent b's posts changed nothing
    identities = server.api("GET", "/identities").json()
    [agent_a_identity] = [i for i in identities["identities"] if i["agent_handle"] == "agent-a"]
    assert created["agent_identity_id"] == agent_a_identity["id"]


def test_the_users_command(launcher: Any, sqlite_url: str, people: People) -> None:
    make_user(launcher, sqlite_url, "Zed@Example.com", "viewer")
    mismatch = cli(
        launcher, sqlite_url, "users", "create", "--email", "y@example.com",
        stdin="one long password\nanother long password\n",
    )  # fmt: skip
    assert mismatch.returncode == 2
    assert "differ" in mismatch.stderr
    short = cli(
        launcher, sqlite_url, "users", "create", "--email", "y@example.com", stdin="short\nshort\n"
    )
    assert short.returncode == 1
    assert "password" in short.stderr
    taken = cli(
        launcher, sqlite_url, "users", "create", "--email", "zed@example.com",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert taken.returncode == 1
    assert "already exists" in taken.stderr
    no_agent = cli(
        launcher, sqlite_url, "users", "create", "--email", "q@example.com", "--role", "agent",
        "--agent-handle", "nobody", stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert no_agent.returncode == 1
    assert "no identity" in no_agent.stderr
    assert cli(launcher, sqlite_url, "users", "list").stdout.split() == [
        "zed@example.com", "viewer", "active",
    ]  # fmt: skip
