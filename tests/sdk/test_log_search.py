"""The SDK's delivery log search against a real running ``hookline serve``: the new filters,
``next_cursor`` on a page, and ``iter_deliveries`` following it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from hookline_sdk import Client

from .conftest import Receiver


def test_log_search_filters_and_cursor_pages(client: Client, receiver: Receiver) -> None:
    ident = client.create_identity(f"search-{secrets.token_hex(4)}")
    sub = client.create_subscription(
        receiver.url("/search"), ["message.delivered"], agent_identity_id=ident.id
    )
    made = [client.test_subscription(sub.id, "message.delivered") for _ in range(3)]
    newest_first = [a.id for a in reversed(made)]

    first = client.list_deliveries(subscription_id=sub.id, limit=2)
    assert first.next_cursor is not None and first.has_more
    later = client.list_deliveries(subscription_id=sub.id, limit=2, cursor=first.next_cursor)
    assert later.next_cursor is None
    assert [a.id for a in (*first, *later)] == newest_first
    paged = list(client.iter_deliveries(agent_identity_id=ident.id, page_size=2))
    assert [a.id for a in paged] == newest_first

    assert len(client.list_deliveries(subscription_id=sub.id, status_code=200)) == 3
    assert len(client.list_deliveries(subscription_id=sub.id, status_code=500)) == 0
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert len(client.list_deliveries(subscription_id=sub.id, since=soon)) == 0
    assert len(client.list_deliveries(subscription_id=sub.id, until=soon)) == 3
    assert len(client.list_deliveries(event_id=made[0].event_id)) == 1
    assert paged[0].agent_identity_id == ident.id
    assert paged[0].request_headers and "webhook-signature" in paged[0].request_headers
    assert paged[0].response_headers is not None
