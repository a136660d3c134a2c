"""The tuple forms of new rows say the same as their mapping forms, column for column.

SQLite writes a publish's events and deliveries from ``event_tuple`` and ``delivery_tuple``
(positions); PostgreSQL from ``event_values`` and ``delivery_values`` (names). Every field
here has a value of its own, so a column out of place or left out shows.
"""

from __future__ import annotations

from dataclasses import replace

from hookline.core.models import Delivery, Event
from hookline.storage import rows
from hookline.storage import tables as t

EVENT = Event(
    id="evt_1",
    organization_id="org_1",
    type="message.delivered",
    data={"n": 1},
    occurred_at_ms=11,
    created_at_ms=12,
    mailbox_id="mbx_1",
    phone_number_id="pn_1",
    agent_identity_id="id_1",
    domain="example.com",
)

DELIVERY = Delivery(
    id="dlv_1",
    organization_id="org_1",
    event_id="evt_1",
    subscription_id="sub_1",
    state="failed",
    attempts=3,
    next_attempt_at_ms=21,
    first_attempt_at_ms=22,
    last_attempt_at_ms=23,
    last_status=503,
    last_error="timeout",
    created_at_ms=24,
    updated_at_ms=25,
)


def test_the_column_lists_name_every_column_once() -> None:
    assert sorted(rows.EVENT_COLUMNS) == sorted(c.name for c in t.events.c)
    assert sorted(rows.DELIVERY_COLUMNS) == sorted(c.name for c in t.deliveries.c)


def test_an_event_tuple_is_its_values_in_column_order() -> None:
    as_tuple = dict(zip(rows.EVENT_COLUMNS, rows.event_tuple(EVENT), strict=True))
    assert as_tuple == rows.event_values(EVENT)
    assert as_tuple["data"] == '{"n":1}'


def test_an_event_tuple_keeps_the_publish_s_own_json() -> None:
    encoded = replace(EVENT, data_json='{"n": 1}')
    row = dict(zip(rows.EVENT_COLUMNS, rows.event_tuple(encoded), strict=True))
    assert row["data"] == '{"n": 1}'


def test_a_delivery_tuple_is_its_values_in_column_order() -> None:
    for token in (None, "lease_1"):
        as_tuple = dict(
            zip(rows.DELIVERY_COLUMNS, rows.delivery_tuple(DELIVERY, token), strict=True)
        )
        assert as_tuple == rows.delivery_values(DELIVERY, lease_token=token)
