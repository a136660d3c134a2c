"""Custom header values are secrets (a receiver's API key, say): sealed at rest, masked on
read, kept when a client sends the mask back, sent for real, and never logged."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from conftest import Launcher, Receiver, Server

MASK = "\u2022" * 8
API_KEY_VALUE = "rk_live_receiver-api-key-9f8e7d6c"
TENANT_VALUE = "tenant-acme-4711"


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


def _subscribe(server: Server, url: str, headers: dict[str, str]) -> dict[str, Any]:
    return dict(
        _ok(
            server.api(
                "POST",
                "/webhooks/subscriptions",
                json={
                    "url": url,
                    "event_types": ["message.received"],
                    "profile": "inboxroad",
                    "headers": headers,
                    "auth_token": "tok-secret-5150",
                },
            ),
            201,
        )
    )


def test_header_values_are_masked_on_read_kept_on_patch_and_sent_for_real(
    server: Server, receiver: Receiver
) -> None:
    sub = _subscribe(
        server, receiver.url("/h"), {"X-Api-Key": API_KEY_VALUE, "X-Tenant": TENANT_VALUE}
    )
    assert sub["headers"] == {"X-Api-Key": MASK, "X-Tenant": MASK}
    read = _ok(server.api("GET", f"/webhooks/subscriptions/{sub['id']}"))
    assert read["headers"] == {"X-Api-Key": MASK, "X-Tenant": MASK}
    listed = _ok(server.api("GET", "/webhooks/subscriptions"))["subscriptions"]
    assert API_KEY_VALUE not in str(listed)

    # a client that reads, changes one header and sends them all back: the masked one is kept
    headers = dict(read["headers"])
    headers["X-Tenant"] = "tenant-new"
    headers["x-extra"] = "plain-extra"
    patched = _ok(
        server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"headers": headers})
    )
    assert patched["headers"] == {"X-Api-Key": MASK, "X-Tenant": MASK, "x-extra": MASK}
    # a PATCH of other fields leaves them alone too
    _ok(server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"name": "renamed"}))
    # the mask for a name that has no value stored is refused, naming the header
    bad = server.api(
        "PATCH",
        f"/webhooks/subscriptions/{sub['id']}",
        json={"headers": {"X-Api-Key": MASK, "X-New": MASK}},
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["field"] == "headers.X-New"
    made_masked = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/x"), "event_types": ["message.sent"], "headers": {"A": MASK}},
    )
    assert made_masked.status_code == 422, made_masked.text

    server.api("POST", "/events", json={"id": "evt_hdr_secret", "type": "message.received"})
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.headers["X-Api-Key"] == API_KEY_VALUE
    assert req.headers["X-Tenant"] == "tenant-new"
    assert req.headers["x-extra"] == "plain-extra"
    assert req.headers["Authorization"] == "Bearer tok-secret-5150"

    # a test send (another road to the receiver) sends the real values as well
    _ok(
        server.api(
            "POST",
            f"/webhooks/subscriptions/{sub['id']}/test",
            json={"event_type": "message.received"},
        )
    )
    got = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert got[-1].headers["X-Api-Key"] == API_KEY_VALUE


def test_header_values_stay_out_of_the_database_and_the_debug_log(
    launcher: Launcher, receiver: Receiver, tmp_path: Path
) -> None:
    db = tmp_path / "hookline.db"
    server = launcher.serve(f"sqlite:///{db}", HOOKLINE_LOG_LEVEL="debug")
    sub = _subscribe(server, receiver.url("/d"), {"X-Api-Key": API_KEY_VALUE})
    server.api(
        "PATCH",
        f"/webhooks/subscriptions/{sub['id']}",
        json={"headers": {"X-Api-Key": MASK, "X-Tenant": TENANT_VALUE}},
    )
    server.api("POST", "/events", json={"id": "evt_hdr_log", "type": "message.received"})
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.headers["X-Api-Key"] == API_KEY_VALUE
    [proc] = server.procs
    proc.stop()
    log = proc.output()
    assert "POST /api/v1/events" in log, "the debug log was written"
    for value in (API_KEY_VALUE, TENANT_VALUE, "tok-secret-5150"):
        assert value not in log
    stored = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes()
        if (db.with_name(db.name + "-wal").exists())
        else b""
    )
    assert API_KEY_VALUE.encode() not in stored and TENANT_VALUE.encode() not in stored


def test_header_values_stored_plain_by_an_earlier_version_keep_working(
    launcher: Launcher, receiver: Receiver, tmp_path: Path
) -> None:
    db = tmp_path / "hookline.db"
    url = f"sqlite:///{db}"
    server = launcher.serve(url)
    sub = _subscribe(server, receiver.url("/old"), {"X-Api-Key": "placeholder"})
    [proc] = server.procs
    proc.stop()
    # as an earlier version wrote them: the values in the headers column, nothing sealed
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE subscriptions SET headers = ?, headers_enc = NULL WHERE id = ?",
            (f'{{"X-Api-Key": "{API_KEY_VALUE}"}}', sub["id"]),
        )
    conn.close()

    server = launcher.serve(url)
    assert _ok(server.api("GET", f"/webhooks/subscriptions/{sub['id']}"))["headers"] == {
        "X-Api-Key": MASK
    }
    server.api("POST", "/events", json={"id": "evt_hdr_old", "type": "message.received"})
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.headers["X-Api-Key"] == API_KEY_VALUE
    # sealed at start: the plain value is gone from the row
    with sqlite3.connect(db) as conn:
        headers, sealed = conn.execute(
            "SELECT headers, headers_enc FROM subscriptions WHERE id = ?", (sub["id"],)
        ).fetchone()
    conn.close()
    assert API_KEY_VALUE not in headers and sealed is not None
