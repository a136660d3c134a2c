"""Issue 19: the bootstrap admin key, how keys are stored, file modes, deep JSON, and failed
authentication, against the real server."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import httpx

from conftest import ADMIN_KEY, Launcher, Server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_rows(db: Path) -> list[tuple[str, str, str, int | None]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT name, prefix, key_hash, revoked_ms FROM api_keys ORDER BY created_ms"
        ).fetchall()


def test_the_last_admin_key_cannot_be_revoked(server: Server) -> None:
    keys = server.api("GET", "/api-keys").json()["api_keys"]
    [own] = [k for k in keys if k["scope"] == "admin"]
    refused = server.api("DELETE", f"/api-keys/{own['id']}")
    assert refused.status_code == 409, refused.text
    assert "last active admin key" in refused.json()["detail"]
    assert server.api("GET", "/api-keys").status_code == 200  # still works
    # with another admin key, the first may go
    other = server.api("POST", "/api-keys", json={"scope": "admin"}).json()
    assert server.api("DELETE", f"/api-keys/{own['id']}").status_code == 204
    assert server.api("GET", "/api-keys").status_code == 401
    with httpx.Client(base_url=server.base, headers={"X-API-Key": other["key"]}) as client:
        last = client.delete(f"/api/v1/api-keys/{other['id']}")
    assert last.status_code == 409, last.text


def test_a_restart_reinstates_a_revoked_admin_key(launcher: Launcher, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hookline.db"
    server = launcher.serve(url)
    own = server.api("GET", "/api-keys").json()["api_keys"][0]
    other = server.api("POST", "/api-keys", json={"scope": "admin"}).json()
    assert server.api("DELETE", f"/api-keys/{own['id']}").status_code == 204
    assert server.api("GET", "/api-keys").status_code == 401
    server.procs[0].stop()
    again = launcher.serve(url)
    assert again.api("GET", "/api-keys").status_code == 200
    ids = [k["id"] for k in again.api("GET", "/api-keys").json()["api_keys"]]
    assert ids == [own["id"], other["id"]]  # the same key, not a new one


def test_the_operator_key_is_stored_with_argon2id(launcher: Launcher, tmp_path: Path) -> None:
    db = tmp_path / "hookline.db"
    server = launcher.serve(f"sqlite:///{db}")
    generated = server.api("POST", "/api-keys", json={"scope": "admin"}).json()["key"]
    [(name, prefix, key_hash, _), (_, gen_prefix, gen_hash, _)] = _key_rows(db)
    assert name == "HOOKLINE_ADMIN_KEY"
    assert key_hash.startswith("$argon2id$")
    assert prefix == ADMIN_KEY[:4]
    assert hashlib.sha256(ADMIN_KEY.encode()).hexdigest() not in key_hash
    # generated keys keep one SHA-256 (they carry 240 random bits)
    assert gen_hash == hashlib.sha256(generated.encode()).hexdigest()
    assert gen_prefix == generated[:10]
    for _ in range(3):  # verified once, then remembered: each request is answered
        assert server.api("GET", "/api-keys").status_code == 200
    wrong = ADMIN_KEY[:-1] + ("x" if ADMIN_KEY[-1] != "x" else "y")  # same prefix
    assert server.client.get("/api/v1/api-keys", headers={"X-API-Key": wrong}).status_code == 401


def test_an_old_sha256_row_of_the_operator_key_is_upgraded(
    launcher: Launcher, tmp_path: Path
) -> None:
    db = tmp_path / "hookline.db"
    url = f"sqlite:///{db}"
    launcher.serve(url).procs[0].stop()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # as before argon2id
        conn.execute(
            "UPDATE api_keys SET key_hash = ?, prefix = ?",
            (hashlib.sha256(ADMIN_KEY.encode()).hexdigest(), ADMIN_KEY[:10]),
        )
    server = launcher.serve(url)
    [(_, prefix, key_hash, revoked)] = _key_rows(db)
    assert key_hash.startswith("$argon2id$")
    assert (prefix, revoked) == (ADMIN_KEY[:4], None)
    assert server.api("GET", "/api-keys").status_code == 200


def test_database_files_are_owner_only(launcher: Launcher, tmp_path: Path) -> None:
    db = tmp_path / "hookline.db"
    old = os.umask(0o022)  # the usual umask, under which SQLite makes files world-readable
    try:
        server = launcher.serve(f"sqlite:///{db}")
    finally:
        os.umask(old)
    for i in range(5):
        assert server.api("POST", "/identities", json={"agent_handle": f"a{i}"}).is_success
        assert server.api("POST", "/events", json={"type": "message.sent"}).status_code == 202
    files = [db, db.with_name("hookline.db-wal"), db.with_name("hookline.db-shm")]
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_deeply_nested_json_is_answered_422(server: Server) -> None:
    number = server.api("POST", "/phone/numbers", json={"number": "+15551234567"}).json()
    for depth in (65, 300, 900, 100_000):
        deep = b'{"a":' * depth + b"1" + b"}" * depth
        headers = {"Content-Type": "application/json"}
        for path, body in [
            (f"/phone/numbers/{number['id']}/incoming-call", deep),
            ("/events", b'{"type":"message.sent","data":' + deep + b"}"),
            ("/events/batch", b'{"events":[{"type":"message.sent","data":' + deep + b"}]}"),
            ("/webhooks/subscriptions", b'{"url":"https://x.example","headers":' + deep + b"}"),
        ]:
            resp = server.api("POST", path, content=body, headers=headers)
            assert resp.status_code == 422, (path, depth, resp.text)
            assert "nested deeper than 64 levels" in resp.json()["detail"]
    shallow = b'{"a":' * 10 + b"1" + b"}" * 10
    call = server.api(
        "POST", f"/phone/numbers/{number['id']}/incoming-call", content=shallow, headers=headers
    )
    assert call.status_code == 200, call.text


def test_failed_authentications_are_limited_per_address(server: Server) -> None:
    def with_key(key: str) -> httpx.Response:
        return server.client.get("/api/v1/api-keys", headers={"X-API-Key": key})

    for i in range(20):
        assert with_key(ADMIN_KEY).status_code == 200  # successes are never held back
        assert with_key(f"hl_wrong_{i}").status_code == 401
    # twenty failures: until one more is allowed, nothing from this address is looked at
    # (a right guess answered then would let the guessing go on at full speed)
    assert with_key(ADMIN_KEY).status_code == 429
    refused = with_key("hl_wrong_again")
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 3
    # the fast publish road is limited by the same count
    publish = server.client.post(
        "/api/v1/events", json={"type": "message.sent"}, headers={"X-API-Key": "hl_wrong"}
    )
    assert publish.status_code == 429
    assert "Retry-After" in publish.headers


def test_behind_a_proxy_failed_authentications_count_per_forwarded_address(
    server: Server,
) -> None:
    """A proxy on loopback (trusted: uvicorn's ``FORWARDED_ALLOW_IPS``) passes each client's
    address in ``X-Forwarded-For``: one client guessing keys holds back only itself, on the
    publish road as on every other route."""

    def publish(key: str, client: str) -> httpx.Response:
        return server.client.post(
            "/api/v1/events",
            json={"type": "message.sent", "data": {}},
            headers={"X-API-Key": key, "X-Forwarded-For": client},
        )

    def keys(key: str, client: str) -> httpx.Response:
        return server.client.get(
            "/api/v1/api-keys", headers={"X-API-Key": key, "X-Forwarded-For": client}
        )

    for i in range(20):
        assert publish(f"hl_wrong_{i}", "203.0.113.7").status_code == 401
    assert publish(ADMIN_KEY, "203.0.113.7").status_code == 429
    assert keys(ADMIN_KEY, "203.0.113.7").status_code == 429
    # another client behind the same proxy is not held back, on either road
    assert publish(ADMIN_KEY, "203.0.113.8").status_code == 202
    assert keys(ADMIN_KEY, "203.0.113.8").status_code == 200
