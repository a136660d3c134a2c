"""Domain values are frozen and keyword-only."""

from __future__ import annotations

import dataclasses

import pytest

from hookline.core.models import Event, Subscription


def test_subscription_defaults() -> None:
    s = Subscription(id="s1", organization_id="org_a", url="https://e.com/", event_types=("a.b",))
    assert s.enabled is True
    assert s.profile == "standard"
    assert s.domains == ()
    assert dict(s.headers) == {}
    assert s.mailbox_id is s.phone_number_id is s.agent_identity_id is None
    assert s.source == "api"


def test_values_are_frozen_and_keyword_only() -> None:
    e = Event(
        id="evt_1", organization_id="o", type="a.b", data={}, occurred_at_ms=1, created_at_ms=1
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.type = "c.d"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Event("evt_1", "o", "a.b", {}, 1, 1)  # type: ignore[call-arg]
    assert dataclasses.replace(e, domain="example.com").domain == "example.com"
    assert e.domain is None
