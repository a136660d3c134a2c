"""The built-in event catalog."""

from __future__ import annotations

import json

import pytest

from hookline.core import catalog
from hookline.core.catalog import CATALOG

MAIL = (
    "message.received",
    "message.sent",
    "message.forwarded",
    "message.delivered",
    "message.bounced",
    "message.failed",
    "message.read",
    "message.action",
    "message.opened",
    "message.clicked",
    "subscription.changed",
)
TEXT = ("text.received", "text.sent", "text.delivered", "text.delivery_failed")
PHONE = ("call.ended", "phone.incoming_call")
OPERATIONAL = ("subscription.disabled",)


def test_catalog_holds_exactly_the_designed_types() -> None:
    assert set(CATALOG) == {*MAIL, *TEXT, *PHONE, *OPERATIONAL}
    assert len(CATALOG) == 18


@pytest.mark.parametrize(
    ("names", "channel"),
    [(MAIL, "mail"), (TEXT, "text"), (PHONE, "phone"), (OPERATIONAL, "operational")],
)
def test_channels(names: tuple[str, ...], channel: str) -> None:
    assert {CATALOG[n].channel for n in names} == {channel}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_type_is_described_with_a_json_example(name: str) -> None:
    entry = CATALOG[name]
    assert entry.name == name
    assert entry.description.strip()
    assert entry.example, "test sends need a non-empty example payload"
    assert json.loads(json.dumps(entry.example)) == entry.example
    assert entry.inboxroad_kind


@pytest.mark.parametrize("name", MAIL)
def test_mail_examples_carry_a_message_id(name: str) -> None:
    assert CATALOG[name].example["message_id"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("message.delivered", "delivered"),
        ("message.opened", "open"),
        ("message.clicked", "click"),
        ("message.bounced", "bounce"),
        ("subscription.changed", "subscription_changed"),
        ("message.sent", "sent"),
        ("message.failed", "failed"),
    ],
)
def test_inboxroad_kinds(name: str, kind: str) -> None:
    assert CATALOG[name].inboxroad_kind == kind


def test_special_types() -> None:
    assert catalog.INCOMING_CALL == "phone.incoming_call"
    assert catalog.SUBSCRIPTION_DISABLED == "subscription.disabled"
    assert frozenset({"phone.incoming_call"}) == catalog.NOT_SUBSCRIBABLE
    assert {"subscription_id", "url", "reason"} <= set(CATALOG["subscription.disabled"].example)
