"""Every console route, for each role, over plain HTTP against the real server: what an admin,
a viewer and an agent user may open and change is the services' decision (an agent sees its
own identity's things, another identity's are 404; a viewer reads all and changes nothing)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from starlette.routing import Route

from hookline.console.app import create_console
from hookline.services.container import Services

from .conftest import PASSWORD, Browser, People, csrf_of, make_user

ADMIN, VIEWER, AGENT = "admin@example.com", "viewer@example.com", "agent@example.com"
OK = "ok"  # 200, 201 or a 303 to the result
ROLES = ("viewer", "agent", "admin")  # in this order: the refused changes first


@dataclass(frozen=True)
class World:
    """What the admin key made before the console is visited."""

    sub_mine: str  # a webhook of the agent's identity
    sub_theirs: str  # a webhook of another identity
    event_mine: str
    event_theirs: str
    number_mine: str
    number_theirs: str
    spare_key: str  # an agent key the admin revokes
    task_theirs: str  # a finished bulk replay of sub_theirs


def _setup(server: Any) -> World:
    def api(method: str, path: str, **kw: Any) -> dict[str, Any]:
        resp = server.api(method, path, **kw)
        assert resp.status_code in (200, 201, 202), resp.text
        return cast(dict[str, Any], resp.json())

    for handle in ("mine", "theirs", "spare", "made"):
        api("POST", "/identities", json={"agent_handle": handle})
    for who in ("mine", "theirs"):
        api(
            "POST",
            "/mail/mailboxes",
            json={"email_address": f"{who}@mail.example.com", "agent_handle": who},
        )
    nums = {
        who: api("POST", "/phone/numbers", json={"number": n, "agent_handle": who})["id"]
        for who, n in (("mine", "+14155550101"), ("theirs", "+14155550102"))
    }
    subs = {
        who: api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["message.received"],
                "mailbox_id": api("GET", f"/mail/mailboxes/{who}@mail.example.com")["id"],
            },
        )["id"]
        for who in ("mine", "theirs")
    }
    events = {
        who: api(
            "POST",
            "/events",
            json={"type": "message.received", "mailbox": f"{who}@mail.example.com", "data": {}},
        )["id"]
        for who in ("mine", "theirs")
    }
    spare = api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "spare"})["id"]
    since = {"since": "2026-01-01T00:00:00Z", "status": "failed"}
    task = api("POST", f"/webhooks/subscriptions/{subs['theirs']}/replay", json=since)["id"]
    deadline = time.monotonic() + 30
    while api("GET", f"/tasks/{task}")["state"] != "succeeded":  # done: the admin may start one
        assert time.monotonic() < deadline, "the replay task did not finish"
        time.sleep(0.05)
    return World(
        sub_mine=subs["mine"],
        sub_theirs=subs["theirs"],
        event_mine=events["mine"],
        event_theirs=events["theirs"],
        number_mine=nums["mine"],
        number_theirs=nums["theirs"],
        spare_key=spare,
        task_theirs=task,
    )


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route's template, as registered
    path: Callable[[World], str]
    expect: dict[str, object]  # role -> OK or a status
    data: Callable[[World], dict[str, Any]] = lambda w: {}


def _same(status: object) -> dict[str, object]:
    return dict.fromkeys(ROLES, status)


READ = _same(OK)
WRITE = {"viewer": 403, "agent": OK, "admin": OK}  # also the forms of changes
ADMIN_WRITE = {"viewer": 403, "agent": 403, "admin": OK}
ADMIN_READ = {"viewer": OK, "agent": 403, "admin": OK}
ADMINS_ONLY = {"viewer": 403, "agent": 403, "admin": OK}
THEIRS = {"viewer": OK, "agent": 404, "admin": OK}
THEIRS_WRITE = {"viewer": 403, "agent": 404, "admin": OK}
NO_ATTEMPT = "00000000-0000-7000-8000-000000000000"  # an attempt that was never made
HOOK = {"url": "http://127.0.0.1:9/other", "event_types": ["message.received"], "name": "n"}

CASES = [
    Case("GET", "/", lambda w: "/", READ),
    Case("GET", "/account", lambda w: "/account", READ),
    Case("GET", "/catalog", lambda w: "/catalog", READ),
    Case("GET", "/webhooks", lambda w: "/webhooks", READ),
    Case("GET", "/webhooks/new", lambda w: "/webhooks/new", WRITE),
    Case("POST", "/webhooks/new", lambda w: "/webhooks/new", WRITE, lambda w: HOOK),
    Case("GET", "/webhooks/{id}", lambda w: f"/webhooks/{w.sub_mine}", READ),
    Case("GET", "/webhooks/{id}", lambda w: f"/webhooks/{w.sub_theirs}", THEIRS),
    Case("GET", "/webhooks/{id}/edit", lambda w: f"/webhooks/{w.sub_theirs}/edit", THEIRS_WRITE),
    Case(
        "POST",
        "/webhooks/{id}/edit",
        lambda w: f"/webhooks/{w.sub_theirs}/edit",
        THEIRS_WRITE,
        lambda w: HOOK,
    ),
    Case(
        "POST",
        "/webhooks/{id}/edit",
        lambda w: f"/webhooks/{w.sub_mine}/edit",
        WRITE,
        lambda w: HOOK,
    ),
    Case("GET", "/webhooks/{id}/secret", lambda w: f"/webhooks/{w.sub_theirs}/secret", THEIRS),
    Case(
        "POST", "/webhooks/{id}/rotate", lambda w: f"/webhooks/{w.sub_theirs}/rotate", THEIRS_WRITE
    ),
    Case(
        "POST",
        "/webhooks/{id}/disable",
        lambda w: f"/webhooks/{w.sub_theirs}/disable",
        THEIRS_WRITE,
    ),
    Case(
        "POST", "/webhooks/{id}/enable", lambda w: f"/webhooks/{w.sub_theirs}/enable", THEIRS_WRITE
    ),
    Case(
        "GET", "/webhooks/{id}/delete", lambda w: f"/webhooks/{w.sub_theirs}/delete", THEIRS_WRITE
    ),
    Case("GET", "/events", lambda w: "/events", READ),
    Case("GET", "/events", lambda w: f"/events?id={w.event_mine}", READ),
    Case("GET", "/events/{id}", lambda w: f"/events/{w.event_mine}", READ),
    Case("GET", "/events/{id}", lambda w: f"/events/{w.event_theirs}", THEIRS),
    Case("GET", "/owners", lambda w: "/owners", READ),
    Case(
        "POST",
        "/owners/identities",
        lambda w: "/owners/identities",
        ADMIN_WRITE,
        lambda w: {"identity_agent_handle": "created"},
    ),
    Case(
        "GET",
        "/owners/identities/{handle}/delete",
        lambda w: "/owners/identities/made/delete",
        THEIRS,
    ),
    Case(
        "POST",
        "/owners/identities/{handle}/delete",
        lambda w: "/owners/identities/made/delete",
        ADMIN_WRITE,
    ),
    Case(
        "POST",
        "/owners/mailboxes",
        lambda w: "/owners/mailboxes",
        ADMIN_WRITE,
        lambda w: {"mailbox_email_address": "new@mail.example.com"},
    ),
    Case(
        "GET",
        "/owners/mailboxes/{address}",
        lambda w: "/owners/mailboxes/mine@mail.example.com",
        READ,
    ),
    Case(
        "GET",
        "/owners/mailboxes/{address}",
        lambda w: "/owners/mailboxes/theirs@mail.example.com",
        THEIRS,
    ),
    Case(
        "POST",
        "/owners/mailboxes/{address}",
        lambda w: "/owners/mailboxes/mine@mail.example.com",
        WRITE,
        lambda w: {"webhook_url": "http://127.0.0.1:9/mb"},
    ),
    Case(
        "POST",
        "/owners/mailboxes/{address}",
        lambda w: "/owners/mailboxes/theirs@mail.example.com",
        THEIRS_WRITE,
        lambda w: {"webhook_url": ""},
    ),
    Case(
        "POST",
        "/owners/numbers",
        lambda w: "/owners/numbers",
        ADMIN_WRITE,
        lambda w: {"number_number": "+14155550199"},
    ),
    Case("GET", "/owners/numbers/{id}", lambda w: f"/owners/numbers/{w.number_mine}", READ),
    Case("GET", "/owners/numbers/{id}", lambda w: f"/owners/numbers/{w.number_theirs}", THEIRS),
    Case(
        "POST",
        "/owners/numbers/{id}",
        lambda w: f"/owners/numbers/{w.number_mine}",
        ADMIN_WRITE,
        lambda w: {"incoming_call_action": "auto_accept"},
    ),
    Case("GET", "/api-keys", lambda w: "/api-keys", ADMIN_READ),
    Case("POST", "/api-keys", lambda w: "/api-keys", ADMIN_WRITE, lambda w: {"scope": "admin"}),
    Case("GET", "/api-keys/{id}/revoke", lambda w: f"/api-keys/{w.spare_key}/revoke", ADMIN_READ),
    Case("POST", "/api-keys/{id}/revoke", lambda w: f"/api-keys/{w.spare_key}/revoke", ADMIN_WRITE),
    Case("GET", "/signing-keys", lambda w: "/signing-keys", READ),
    Case("POST", "/signing-keys/organization", lambda w: "/signing-keys/organization", ADMIN_WRITE),
    Case(
        "POST",
        "/signing-keys/identities/{handle}",
        lambda w: "/signing-keys/identities/mine",
        WRITE,
    ),
    Case(
        "POST",
        "/signing-keys/identities/{handle}",
        lambda w: "/signing-keys/identities/theirs",
        THEIRS_WRITE,
    ),
    Case("GET", "/users", lambda w: "/users", ADMINS_ONLY),
    Case(
        "POST",
        "/users",
        lambda w: "/users",
        ADMINS_ONLY,
        lambda w: {"email": "new@example.com", "role": "viewer", "password": PASSWORD},
    ),
    Case("GET", "/users/user", lambda w: f"/users/user?email={VIEWER}", ADMINS_ONLY),
    Case(
        "POST",
        "/users/reset-password",
        lambda w: "/users/reset-password",
        ADMINS_ONLY,
        lambda w: {"email": "new@example.com", "password": PASSWORD + "!"},
    ),
    Case(
        "POST",
        "/users/password-link",
        lambda w: "/users/password-link",
        ADMINS_ONLY,
        lambda w: {"email": "new@example.com"},
    ),
    Case(
        "POST",
        "/users/disable",
        lambda w: "/users/disable",
        ADMINS_ONLY,
        lambda w: {"email": "new@example.com"},
    ),
    # a webhook's log and actions (their own pages are tested in test_attempt_log_http.py and
    # test_webhook_actions_http.py): another identity's webhook is 404 to an agent
    Case("GET", "/webhooks/{id}/attempts", lambda w: f"/webhooks/{w.sub_theirs}/attempts", THEIRS),
    Case(
        "GET",
        "/webhooks/{id}/attempts/{attempt_id}",
        lambda w: f"/webhooks/{w.sub_theirs}/attempts/{NO_ATTEMPT}",
        _same(404),
    ),
    Case(
        "POST",
        "/webhooks/{id}/attempts/{attempt_id}/replay",
        lambda w: f"/webhooks/{w.sub_theirs}/attempts/{NO_ATTEMPT}/replay",
        {"viewer": 403, "agent": 404, "admin": 404},
    ),
    Case(
        "GET",
        "/webhooks/{id}/example",
        lambda w: f"/webhooks/{w.sub_theirs}/example?event_type=message.received",
        THEIRS,
    ),
    Case(
        "POST",
        "/webhooks/{id}/test",
        lambda w: f"/webhooks/{w.sub_theirs}/test",
        THEIRS_WRITE,
        lambda w: {"event_type": "message.received"},
    ),
    Case(
        "GET",
        "/webhooks/{id}/recover",
        lambda w: f"/webhooks/{w.sub_theirs}/recover?since=2026-01-01T00:00",
        THEIRS_WRITE,
    ),
    Case(
        "POST",
        "/webhooks/{id}/recover",
        lambda w: f"/webhooks/{w.sub_theirs}/recover",
        THEIRS_WRITE,
        lambda w: {"since": "2026-01-01T00:00"},
    ),
    Case(
        "GET",
        "/webhooks/{id}/tasks/{task_id}",
        lambda w: f"/webhooks/{w.sub_theirs}/tasks/{w.task_theirs}",
        THEIRS,
    ),
    Case(
        "GET",
        "/webhooks/{id}/tasks/{task_id}/progress",
        lambda w: f"/webhooks/{w.sub_theirs}/tasks/{w.task_theirs}/progress",
        THEIRS,
    ),
    Case(
        "GET",
        "/webhooks/{id}/tasks/{task_id}",
        lambda w: f"/webhooks/{w.sub_mine}/tasks/{w.task_theirs}",  # another webhook's task
        _same(404),
    ),
    Case(
        "POST",
        "/webhooks/{id}/replay",
        lambda w: f"/webhooks/{w.sub_theirs}/replay",
        THEIRS_WRITE,
        lambda w: {"status": "failed", "since": "2026-01-01T00:00"},
    ),
    # last: it deletes the webhook the cases above visit
    Case(
        "POST", "/webhooks/{id}/delete", lambda w: f"/webhooks/{w.sub_theirs}/delete", THEIRS_WRITE
    ),
]

#: routes that are not pages of a signed-in user, or that end the session (portal links:
#: test_console_portal_http.py)
NOT_IN_THE_TABLE = {
    ("GET", "/portal"),
    ("GET", "/set-password"),
    ("POST", "/set-password"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("POST", "/account/password"),
    ("GET", "/setup"),
    ("POST", "/setup"),
}


def test_the_table_covers_every_console_route() -> None:
    # the app only reads one setting to be built; its routes are what is checked
    settings = SimpleNamespace(console_sign_in_limit=5, portal_frame_ancestors=())
    services = SimpleNamespace(settings=settings)
    app = create_console(cast(Services, services))
    registered = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)  # the static files' Mount answers no method of its own
        for method in route.methods or ()
        if method != "HEAD"
    }
    covered = {(c.method, c.route) for c in CASES}
    assert registered - NOT_IN_THE_TABLE == covered


def _outcome(resp: httpx.Response) -> object:
    if resp.status_code in (200, 201):
        return OK
    if resp.status_code == 303:
        assert "/sign-in" not in resp.headers["location"], "signed out"
        return OK
    return resp.status_code


def _only_sign_out_form(html: str) -> bool:
    return re.findall(r'<form method="post" action="([^"]+)"', html) == ["/console/sign-out"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_every_route_for_every_role(
    launcher: Any, database: str, people: People, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{launcher.tmp}/hookline.db"
        if database == "sqlite"
        else request.getfixturevalue("fresh_pg_url")
    )
    server = launcher.serve(url)
    world = _setup(server)
    make_user(launcher, url, ADMIN)
    make_user(launcher, url, VIEWER, "viewer")
    make_user(launcher, url, AGENT, "agent", agent_handle="mine")
    browsers: dict[str, Browser] = {
        "admin": people.signed_in(server, ADMIN),
        "viewer": people.signed_in(server, VIEWER),
        "agent": people.signed_in(server, AGENT),
    }
    tokens = {role: b.token("/account") for role, b in browsers.items()}
    failures = []
    for role in ROLES:
        for case in CASES:
            path = case.path(world)
            browser = browsers[role]
            if case.method == "GET":
                resp = browser.get(path)
                # a viewer reads what an admin reads, with no form but signing out
                viewed = role == "viewer" and "<nav" in resp.text and path != "/account"
                if viewed and not _only_sign_out_form(resp.text):
                    failures.append(f"viewer sees a form on {path}")
            else:
                resp = browser.post(path, {"csrf_token": tokens[role], **case.data(world)})
            got, want = _outcome(resp), case.expect[role]
            if got != want:
                failures.append(f"{role} {case.method} {path}: {got}, expected {want}")
    assert not failures, "\n".join(failures)

    # what each sees of the lists: an agent only its own identity's things
    agent_events = browsers["agent"].get("/events").text
    assert world.event_mine in agent_events and world.event_theirs not in agent_events
    admin_events = browsers["admin"].get("/events").text
    assert world.event_mine in admin_events and world.event_theirs in admin_events
    agent_owners = browsers["agent"].get("/owners").text
    assert "mine@mail.example.com" in agent_owners
    assert "theirs@mail.example.com" not in agent_owners
    # the event's page lists its delivery, linked to its webhook
    detail = browsers["admin"].get(f"/events/{world.event_mine}").text
    assert f'href="/console/webhooks/{world.sub_mine}"' in detail


def test_a_new_user_and_a_reset_by_one_time_link(
    launcher: Any, sqlite_url: str, people: People
) -> None:
    make_user(launcher, sqlite_url, ADMIN)
    server = launcher.serve(sqlite_url)
    admin = people.signed_in(server, ADMIN)
    made = admin.post(
        "/users",
        {"csrf_token": admin.token("/users"), "email": "new@example.com", "role": "viewer"},
    )
    assert made.status_code == 201, made.text
    link = re.search(
        r'<code id="password-link">[^<]*(/console/set-password\?token=[\w-]+)', made.text
    )
    assert link, made.text
    newcomer = people.new(server)
    assert newcomer.sign_in("new@example.com", PASSWORD).status_code == 401  # none set yet
    form = newcomer.client.get(link.group(1))
    data = {
        "csrf_token": csrf_of(form.text),
        "token": link.group(1).rsplit("=", 1)[1],
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    assert newcomer.post("/set-password", data).status_code == 303
    # once: the same link again (with a fresh form) sets nothing
    data["csrf_token"] = csrf_of(newcomer.client.get(link.group(1)).text)
    other = {**data, "password": "x" * 12, "password_again": "x" * 12}
    assert newcomer.post("/set-password", other).status_code == 410
    signed = people.signed_in(server, "new@example.com")

    # a reset: a new link; using it ends the sessions of the old password
    reset = admin.post(
        "/users/password-link", {"csrf_token": admin.token(), "email": "new@example.com"}
    )
    again = re.search(r"set-password\?token=([\w-]+)", reset.text)
    assert reset.status_code == 200 and again, reset.text
    assert signed.get("/webhooks").status_code == 200  # a link alone changes nothing yet
    fresh = people.new(server)
    token = csrf_of(fresh.client.get(f"/console/set-password?token={again.group(1)}").text)
    new_password = PASSWORD + " again"
    done = fresh.post(
        "/set-password",
        {
            "csrf_token": token,
            "token": again.group(1),
            "password": new_password,
            "password_again": new_password,
        },
    )
    assert done.status_code == 303
    assert signed.get("/webhooks").status_code == 303
    assert people.new(server).sign_in("new@example.com", new_password).status_code == 303
