"""What ``serve`` logs: a line per failed attempt and per subscription disabled or
re-enabled, a periodic summary, JSON lines on request, and never a secret at any level."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import ADMIN_KEY, Launcher, Receiver, Server

AUTH_TOKEN = "tok-ops-secret-8675309"
HEADER_VALUE = "hv-ops-secret-31337"
SECRET_KEY = "ops-master-key-0123456789abcdef"


def _objects(log: str) -> list[dict[str, Any]]:
    """The log's JSON lines (the banner before them is printed, not logged)."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def _wait_log(server: Server, found: Any, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        objects = _objects(server.procs[0].output())
        if found(objects):
            return objects
        assert time.monotonic() < deadline, server.procs[0].output()[-4000:]
        time.sleep(0.05)


def test_json_lines_at_debug_say_what_failed_and_keep_secrets_out(
    launcher: Launcher, tmp_path: Any, receiver: Receiver
) -> None:
    server = launcher.serve(
        f"sqlite:///{tmp_path}/hookline.db",
        HOOKLINE_LOG_LEVEL="debug",
        HOOKLINE_LOG_FORMAT="json",
        HOOKLINE_LOG_SUMMARY_INTERVAL_S="0.3",
        HOOKLINE_SECRET_KEY=SECRET_KEY,
    )
    receiver.plan("/ops", [500, 200])
    created = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/ops"),
            "event_types": ["message.delivered"],
            "headers": {"X-Receiver-Key": HEADER_VALUE},
            "auth_token": AUTH_TOKEN,
        },
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    published = server.api(
        "POST", "/events", json={"id": "evt_ops_1", "type": "message.delivered", "data": {}}
    )
    assert published.status_code == 202, published.text
    receiver.wait_for(lambda rs: len(rs) >= 2)  # the 500, then the retry's 200

    def failed_line(objects: list[dict[str, Any]]) -> bool:
        return any(o.get("event_id") == "evt_ops_1" and o.get("status") == 500 for o in objects)

    objects = _wait_log(server, failed_line)
    [failed] = [o for o in objects if o.get("status") == 500]
    assert failed["level"] == "info"
    assert failed["subscription_id"] == sub["id"]
    assert failed["attempt"] == 1 and failed["delivery_id"]
    assert failed["next_attempt_at"].endswith("Z") or "+" in failed["next_attempt_at"]

    # the summary counts the delivery, and the backlog from the database (once written)
    deadline = time.monotonic() + 20
    while 'hookline_deliveries{state="succeeded"} 1.0' not in server.client.get("/metrics").text:
        assert time.monotonic() < deadline, "the gauges never showed the delivery"
        time.sleep(0.05)

    def summarized(objects: list[dict[str, Any]]) -> bool:
        summaries = [o for o in objects if "backlog" in o]
        counted = [i for i, o in enumerate(summaries) if o["delivered"] >= 1]
        return bool(counted) and any(o["backlog"] == 0 for o in summaries[counted[0] :])

    objects = _wait_log(server, summarized)
    summaries = [o for o in objects if "backlog" in o]
    assert sum(o["delivered"] for o in summaries) == 1
    assert sum(o["retrying"] for o in summaries) == 1  # the 500's delivery, to retry
    assert sum(o["failed"] for o in summaries) == 0
    # and /metrics: the subscription's latency, the states' gauges the summary refreshed
    metrics = server.client.get("/metrics").text
    assert f'hookline_subscription_attempt_seconds_count{{subscription="{sub["id"]}"}} 2.0' in (
        metrics
    )
    assert 'hookline_deliveries{state="succeeded"} 1.0' in metrics
    assert 'hookline_deliveries{state="pending"} 0.0' in metrics

    # disabled and re-enabled by request: a line each
    for enabled in (False, True):
        patched = server.api(
            "PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"enabled": enabled}
        )
        assert patched.status_code == 200, patched.text
    objects = _wait_log(
        server, lambda os: any("re-enabled" in o["message"] for o in os if "message" in o)
    )
    toggles = [
        o for o in objects if o.get("subscription_id") == sub["id"] and "by request" in o["message"]
    ]
    assert [("re-enabled" in o["message"]) for o in toggles] == [False, True]

    # every line is one JSON object, and no secret is anywhere in the log
    server.procs[0].stop()
    log = server.procs[0].output()
    logged = [line for line in log.splitlines() if line.startswith("{")]
    assert len(logged) == len(_objects(log)) > 5
    secrets = [AUTH_TOKEN, HEADER_VALUE, SECRET_KEY, ADMIN_KEY, sub["secret"]]
    for secret in secrets:
        assert secret not in log, f"a secret is in the log: {secret[:6]}..."


def test_info_logs_no_line_for_a_delivery_that_succeeds(
    launcher: Launcher, tmp_path: Any, receiver: Receiver
) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/hookline.db", HOOKLINE_LOG_LEVEL="info")
    receiver.plan("/fail", [500])
    for path in ("/ok", "/fail"):
        created = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": receiver.url(path), "event_types": ["message.delivered"]},
        )
        assert created.status_code == 201, created.text
    for n in range(3):
        event = {"id": f"evt_info_{n}", "type": "message.delivered", "data": {}}
        assert server.api("POST", "/events", json=event).status_code == 202
    receiver.wait_for(lambda rs: sum(r.path == "/fail" for r in rs) >= 3)
    deadline = time.monotonic() + 20
    while (log := server.procs[0].output()).count("attempt 1 of delivery") < 3:
        assert time.monotonic() < deadline, log[-4000:]
        time.sleep(0.05)
    failed = [line for line in log.splitlines() if "attempt 1 of delivery" in line]
    assert len(failed) == 3, failed  # one per failed attempt, none for the three that worked
    assert all("status 500" in line and "next attempt at" in line for line in failed)
