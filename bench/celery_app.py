"""The usual Python approach, as a baseline: Celery on a Redis broker, one task per delivery,
``requests`` to POST, retries enabled. It signs exactly as Hookline's ``standard`` profile does.

The harness starts ``celery -A bench.celery_app worker``; it needs the ``bench`` extra.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from celery import Celery

from hookline.core import ids, profiles
from hookline.services import wire

BROKER_URL = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
QUEUE = "hookline-bench"
TIMEOUT_S = 10  # per attempt, as Hookline's default
USER_AGENT = "Hookline-bench-celery/1"

app = Celery("hookline_bench", broker=BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_session: requests.Session | None = None


def _http() -> requests.Session:
    """One pooled session per worker process (created after the fork)."""
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


@app.task(
    autoretry_for=(requests.RequestException,),
    retry_backoff=True,
    retry_kwargs={"max_retries": 5},
)
def deliver(
    url: str,
    event_id: str,
    event_type: str,
    occurred_at_ms: int,
    data: dict[str, Any],
    secret: str,
) -> None:
    body = wire.render_body(
        profiles.STANDARD,
        event_id=event_id,
        event_type=event_type,
        occurred_at_ms=occurred_at_ms,
        data=data,
    )
    request = profiles.build_request(
        profiles.STANDARD,
        body=body,
        event_id=event_id,
        secrets=[secret],
        attempt=profiles.AttemptIdentity(
            timestamp_s=int(time.time()), request_id=ids.new_request_id()
        ),
        custom_headers={},
        user_agent=USER_AGENT,
        auth_token=None,
    )
    resp = _http().post(
        url, data=request.body, headers=request.headers, timeout=TIMEOUT_S, allow_redirects=False
    )
    resp.raise_for_status()  # a 4xx/5xx is retried like a network error
