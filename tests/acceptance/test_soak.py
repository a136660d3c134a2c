"""Soak: 32 publishers on kept-alive connections, with idle gaps, against the real API, worker
and a receiver, on both databases. No connection is reset, nothing answers 5xx, and every
acknowledged event is delivered.

``HOOKLINE_SOAK_S`` sets the publishing time per database (10 s by default, so the suite stays
quick; docs/operations.md gives the 300 s run and its figures)."""

from __future__ import annotations

import asyncio
import os

import pytest
from soak_load import EVENT_TYPE, publish_load

from conftest import ADMIN_KEY, Launcher, Receiver, Server, base_env, hookline

SOAK_S = float(os.environ.get("HOOKLINE_SOAK_S", "10"))
PUBLISHERS = 32
#: time to deliver what was acknowledged, once publishing stops
DRAIN_S = 120.0


def _deployment(launcher: Launcher, database_url: str) -> Server:
    """As in production: ``serve`` on SQLite; on PostgreSQL ``migrate``, then ``api`` and a
    separate ``worker``."""
    if database_url.startswith("sqlite"):
        return launcher.serve(database_url)
    done = launcher.run(hookline("migrate"), base_env(database_url))
    assert done.returncode == 0, done.stderr
    server = launcher.api_only(database_url)
    launcher.worker(database_url)
    return server


@pytest.mark.timeout(SOAK_S + DRAIN_S + 120)
def test_publishers_on_kept_alive_connections_see_no_reset_and_no_5xx(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = _deployment(launcher, database_url)
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/soak"), "event_types": [EVENT_TYPE]},
    )
    assert resp.status_code == 201, resp.text

    tally = asyncio.run(
        publish_load(
            server.base, ADMIN_KEY, prefix="soak", publishers=PUBLISHERS, duration_s=SOAK_S
        )
    )
    print(
        f"\nsoak {database_url.split(':')[0]}: {tally.requests} requests in {tally.seconds:.0f} s "
        f"({tally.requests / tally.seconds:.0f}/s), statuses {dict(tally.statuses)}, "
        f"broken {dict(tally.broken)}, connections opened {tally.connections}"
    )
    assert not tally.broken, f"connections broken under load: {dict(tally.broken)}"
    assert tally.server_errors == 0, dict(tally.statuses)
    assert tally.statuses[202] == tally.requests
    assert tally.requests > PUBLISHERS * 10
    # the publishers rested up to 6.5 s between bursts (longer than uvicorn's own 5 s idle
    # timeout, which reset a request now and then) and kept their connections for 60 s, as a
    # proxy does: the server closed none of them, so no request could race a close
    assert tally.connections == PUBLISHERS

    wanted = set(tally.acknowledged)
    got = receiver.wait_for(
        lambda rs: wanted <= {r.headers.get("webhook-id") for r in rs}, timeout_s=DRAIN_S
    )
    assert wanted <= {r.headers.get("webhook-id") for r in got}
