"""The signed request every baseline sends: Hookline's ``standard`` profile, as Hookline signs.

Imports only Hookline's core and the body writer (no server), so the Celery and arq workers
can use it too.
"""

from __future__ import annotations

import time
from typing import Any

from hookline.core import ids, profiles
from hookline.services import wire


def signed_request(
    *,
    event_id: str,
    event_type: str,
    occurred_at_ms: int,
    data: dict[str, Any],
    secret: str,
    user_agent: str,
) -> profiles.OutgoingRequest:
    body = wire.render_body(
        profiles.STANDARD,
        event_id=event_id,
        event_type=event_type,
        occurred_at_ms=occurred_at_ms,
        data=data,
    )
    return profiles.build_request(
        profiles.STANDARD,
        body=body,
        event_id=event_id,
        secrets=[secret],
        attempt=profiles.AttemptIdentity(
            timestamp_s=int(time.time()), request_id=ids.new_request_id()
        ),
        custom_headers={},
        user_agent=user_agent,
        auth_token=None,
    )
