"""The master key, end to end through the real CLI: a process given the wrong key refuses to
start with one line; ``hookline rotate-secret-key`` re-encrypts every stored secret, after
which deliveries verify with the same secrets and the new key alone starts the server; an
interrupted rotation of an embedded database's key file is finished by running it again."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from conftest import Launcher, Received, Receiver, Server, base_env, hookline

KEY_A = "test-master-key-0123456789"  # what base_env gives every process
KEY_B = "the-rotated-master-key-abcdefghijklmnop"


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The process exited non-zero, having said why in exactly one line."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "refusing to start" in lines[0] and "master key" in lines[0]
    return lines[0]


def _stop(server: Server) -> None:
    for proc in server.procs:
        proc.stop()


def test_a_copied_embedded_database_with_a_new_key_file_refuses_to_start(
    launcher: Launcher, tmp_path: Path
) -> None:
    first = tmp_path / "one" / "hookline.db"
    first.parent.mkdir()  # a missing folder is refused at start
    server = launcher.serve(f"sqlite:///{first}", HOOKLINE_SECRET_KEY="")
    _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": "http://127.0.0.1:9/x", "event_types": ["message.sent"]},
        ),
        201,
    )
    _stop(server)
    assert first.with_name("hookline.db.key").exists()
    copy = tmp_path / "two" / "hookline.db"
    copy.parent.mkdir()
    shutil.copy(first, copy)  # without its key file
    env = base_env(f"sqlite:///{copy}", HOOKLINE_SECRET_KEY="")
    for command in ("serve", "worker"):
        line = _refused(launcher.run(hookline(command), env))
        assert "key file" in line
        # the key file made a moment ago is not left behind to be mistaken for the key
        assert not copy.with_name("hookline.db.key").exists()
    # with the database's own key file it starts
    shutil.copy(first.with_name("hookline.db.key"), copy.with_name("hookline.db.key"))
    _stop(launcher.serve(f"sqlite:///{copy}", HOOKLINE_SECRET_KEY=""))


def test_a_wrong_secret_key_refuses_to_start(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url)  # key A: stores the check value
    _stop(server)
    env = base_env(database_url, HOOKLINE_SECRET_KEY=KEY_B)
    for command in ("serve", "api", "worker"):
        line = _refused(launcher.run(hookline(command), env))
        assert "HOOKLINE_SECRET_KEY" in line


def _inkbox_ok(req: Received, key: str) -> bool:
    msg = f"{req.headers['X-Inkbox-Request-ID']}.{req.headers['X-Inkbox-Timestamp']}.".encode()
    digest = hmac.new(key.removeprefix("whsec_").encode(), msg + req.body, hashlib.sha256)
    return req.headers["X-Inkbox-Signature"] == "sha256=" + digest.hexdigest()


def _make_secrets(server: Server, receiver: Receiver) -> dict[str, Any]:
    """A subscription in a secret's grace period with an auth token and a header, and an
    identity's inkbox subscription: every kind of stored secret."""
    std = _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": receiver.url("/std"),
                "event_types": ["message.received"],
                "auth_token": "tok-rot",
                "headers": {"X-Api-Key": "hdr-rot"},
            },
        ),
        201,
    )
    rotated = _ok(
        server.api(
            "POST",
            f"/webhooks/subscriptions/{std['id']}/secret/rotate",
            json={"grace_period_s": 3600},
        )
    )["secret"]
    _ok(server.api("POST", "/identities", json={"agent_handle": "rot-agent"}), 201)
    ident = _ok(server.api("GET", "/identities/rot-agent"))
    ink = _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": receiver.url("/ink"),
                "event_types": ["message.received"],
                "agent_identity_id": ident["id"],
                "profile": "inkbox",
            },
        ),
        201,
    )
    return {"std": std, "old": std["secret"], "new": rotated, "ink_key": ink["signing_key"]}


def _check_deliveries(server: Server, receiver: Receiver, made: dict[str, Any], n: int) -> None:
    _ok(
        server.api(
            "POST",
            "/events",
            json={"id": f"evt_rot_{n}", "type": "message.received", "agent_handle": "rot-agent"},
        ),
        202,
    )
    got = receiver.wait_for(
        lambda rs: len([r for r in rs if f"evt_rot_{n}" in r.body.decode()]) >= 2
    )
    mine = {r.path: r for r in got if f"evt_rot_{n}" in r.body.decode()}
    std = mine["/std"]
    # both the new secret and, in its grace period, the old one sign
    for secret in (made["new"], made["old"]):
        Webhook(secret).verify(std.body, std.headers)
    assert std.headers["Authorization"] == "Bearer tok-rot"
    assert std.headers["X-Api-Key"] == "hdr-rot"
    assert _inkbox_ok(mine["/ink"], made["ink_key"])
    secret = _ok(server.api("GET", f"/webhooks/subscriptions/{made['std']['id']}/secret"))
    assert secret == {"secret": made["new"]}


def test_rotating_the_secret_key_keeps_every_secret(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url)
    made = _make_secrets(server, receiver)
    _check_deliveries(server, receiver, made, 0)
    _stop(server)

    rotate_env = base_env(
        database_url, HOOKLINE_SECRET_KEY=KEY_B, HOOKLINE_PREVIOUS_SECRET_KEYS=KEY_A
    )
    for _ in range(2):  # run again (as after an interruption): it finds nothing left to do
        done = launcher.run(hookline("rotate-secret-key"), rotate_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "rotated to master key" in done.stdout
    assert "0 secrets sealed anew" in done.stdout

    # the old key alone no longer opens the database; the new key alone does
    _refused(launcher.run(hookline("worker"), base_env(database_url)))
    server = launcher.serve(database_url, HOOKLINE_SECRET_KEY=KEY_B)
    _check_deliveries(server, receiver, made, 1)


def test_an_interrupted_key_file_rotation_is_finished_by_running_it_again(
    launcher: Launcher, tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "hookline.db"
    key_file = db.with_name("hookline.db.key")
    url = f"sqlite:///{db}"
    server = launcher.serve(url, HOOKLINE_SECRET_KEY="")
    made = _make_secrets(server, receiver)
    _stop(server)
    old_key = key_file.read_text().strip()

    # interrupted just after it began: the key file names a new key first, the old after it,
    # and the server (which accepts both) has meanwhile sealed secrets of each kind
    key_file.write_text(f"{KEY_B}\n{old_key}\n")
    server = launcher.serve(url, HOOKLINE_SECRET_KEY="")
    _check_deliveries(server, receiver, made, 0)
    made_later = _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": receiver.url("/later"), "event_types": ["message.sent"]},
        ),
        201,
    )
    _stop(server)

    done = launcher.run(hookline("rotate-secret-key"), base_env(url, HOOKLINE_SECRET_KEY=""))
    assert done.returncode == 0, done.stdout + done.stderr
    assert key_file.read_text().split() == [KEY_B], "the interrupted rotation's key, alone"

    server = launcher.serve(url, HOOKLINE_SECRET_KEY="")
    _check_deliveries(server, receiver, made, 1)
    later = _ok(server.api("GET", f"/webhooks/subscriptions/{made_later['id']}/secret"))
    assert later == {"secret": made_later["secret"]}
    _stop(server)

    # a rotation from scratch: a new key is made, and the old is gone from the file
    done = launcher.run(hookline("rotate-secret-key"), base_env(url, HOOKLINE_SECRET_KEY=""))
    assert done.returncode == 0, done.stdout + done.stderr
    [newest] = key_file.read_text().split()
    assert newest not in (KEY_B, old_key)
    server = launcher.serve(url, HOOKLINE_SECRET_KEY="")
    _check_deliveries(server, receiver, made, 2)
