"""Which subscriptions get an event (pure routing; the acceptance suite covers the wire)."""

from __future__ import annotations

from typing import Any

import pytest

from hookline.core import routing, validation
from hookline.core.catalog import SUBSCRIPTION_DISABLED
from hookline.core.models import Event, Subscription

ORG, OTHER_ORG = "org_a", "org_b"
ADA, BOB = "id-ada", "id-bob"
ADA_MAILBOX, BOB_MAILBOX = "mb-ada", "mb-bob"
ADA_PHONE, BOB_PHONE = "ph-ada", "ph-bob"
ALL_TYPES = (
    "message.received",
    "message.bounced",
    "text.received",
    "call.ended",
    SUBSCRIPTION_DISABLED,
)


def sub(sub_id: str, **kw: Any) -> Subscription:
    kw.setdefault("organization_id", ORG)
    kw.setdefault("event_types", ALL_TYPES)
    return Subscription(id=sub_id, url=f"https://example.com/{sub_id}", **kw)


def event(event_type: str = "message.received", **kw: Any) -> Event:
    kw.setdefault("organization_id", ORG)
    return Event(id="evt_1", type=event_type, data={}, occurred_at_ms=0, created_at_ms=0, **kw)


def ada_mail(event_type: str = "message.received", **kw: Any) -> Event:
    """An event of Ada's mailbox: the publisher sets the owning identity."""
    return event(event_type, mailbox_id=ADA_MAILBOX, agent_identity_id=ADA, **kw)


def ada_text(event_type: str = "text.received") -> Event:
    return event(event_type, phone_number_id=ADA_PHONE, agent_identity_id=ADA)


def bob_mail(event_type: str = "message.received") -> Event:
    return event(event_type, mailbox_id=BOB_MAILBOX, agent_identity_id=BOB)


def unowned_mail() -> Event:
    return event(mailbox_id="mb-nobody")


def ids(subs: list[Subscription]) -> list[str]:
    return [s.id for s in subs]


def test_mailbox_subscription_gets_only_its_mailboxs_events() -> None:
    s = sub("s-mb", mailbox_id=ADA_MAILBOX, owner_identity_id=ADA)
    assert routing.matches(s, ada_mail())
    assert not routing.matches(s, bob_mail())
    assert not routing.matches(s, ada_text())
    assert not routing.matches(s, event(agent_identity_id=ADA))
    assert not routing.matches(s, unowned_mail())


def test_phone_number_subscription_gets_only_its_numbers_events() -> None:
    s = sub("s-ph", phone_number_id=ADA_PHONE, owner_identity_id=ADA)
    assert routing.matches(s, ada_text())
    assert routing.matches(s, ada_text("call.ended"))
    assert not routing.matches(s, event("text.received", phone_number_id=BOB_PHONE))
    assert not routing.matches(s, ada_mail())


def test_identity_subscription_gets_its_mailboxes_numbers_and_own_events() -> None:
    s = sub("s-id", agent_identity_id=ADA, owner_identity_id=ADA)
    assert routing.matches(s, ada_mail())
    assert routing.matches(s, ada_text())
    assert routing.matches(s, event(agent_identity_id=ADA))
    assert not routing.matches(s, bob_mail())
    assert not routing.matches(s, unowned_mail())
    assert not routing.matches(s, event())


def test_org_wide_subscription_gets_everything_in_its_organization() -> None:
    s = sub("s-org")
    for e in (ada_mail(), ada_text(), bob_mail(), unowned_mail(), event(), ada_text("call.ended")):
        assert routing.matches(s, e), e


def test_other_organization_never_matches() -> None:
    e = event(organization_id=OTHER_ORG, mailbox_id=ADA_MAILBOX, agent_identity_id=ADA)
    for s in (
        sub("s-org"),
        sub("s-mb", mailbox_id=ADA_MAILBOX),
        sub("s-id", agent_identity_id=ADA),
    ):
        assert not routing.matches(s, e)
    assert routing.matches(sub("s-theirs", organization_id=OTHER_ORG), e)


def test_event_type_filter() -> None:
    s = sub("s-org", event_types=("message.bounced",))
    assert routing.matches(s, event("message.bounced"))
    assert not routing.matches(s, event("message.received"))
    assert not routing.matches(s, event("message.bounced.extra"))


def test_domain_filter_is_case_insensitive() -> None:
    s = sub("s-dom", domains=validation.domains(["Example.COM", "mail.example.org."]))
    assert routing.matches(s, event(domain="example.com"))
    assert routing.matches(s, event(domain="EXAMPLE.com"))
    assert routing.matches(s, event(domain="Mail.Example.Org"))
    assert not routing.matches(s, event(domain="example.org"))
    assert not routing.matches(s, event(domain="sub.example.com"))


def test_subscription_with_domains_skips_events_without_a_domain() -> None:
    s = sub("s-dom", domains=("example.com",))
    assert not routing.matches(s, event())


def test_subscription_without_domains_ignores_the_event_domain() -> None:
    s = sub("s-org")
    assert routing.matches(s, event(domain="example.com"))
    assert routing.matches(s, event())


def test_all_filters_combine() -> None:
    s = sub(
        "s-all",
        mailbox_id=ADA_MAILBOX,
        event_types=("message.bounced",),
        domains=("example.com",),
    )
    assert routing.matches(s, ada_mail("message.bounced", domain="example.com"))
    assert not routing.matches(s, ada_mail("message.received", domain="example.com"))
    assert not routing.matches(s, ada_mail("message.bounced", domain="other.com"))
    assert not routing.matches(s, bob_mail("message.bounced"))


@pytest.mark.parametrize(
    "owner",
    [{}, {"mailbox_id": ADA_MAILBOX}, {"phone_number_id": ADA_PHONE}, {"agent_identity_id": ADA}],
    ids=["org-wide", "mailbox", "phone", "identity"],
)
def test_disabled_subscriptions_route_as_enabled_ones(owner: dict[str, str]) -> None:
    # routed all the same: the publish makes their deliveries held
    off = sub("s-off", enabled=False, disabled_reason="410 Gone", **owner)
    on = sub("s-off", **owner)
    for e in (ada_mail(), ada_text(), event(), event(SUBSCRIPTION_DISABLED)):
        assert routing.matches(off, e) == routing.matches(on, e)
    assert [s.id for s in routing.route([off], ada_mail())] == [
        s.id for s in routing.route([on], ada_mail())
    ]
    assert routing.route([off], event()) == ([off] if not owner else [])


@pytest.mark.parametrize(
    "owner",
    [{"mailbox_id": ADA_MAILBOX}, {"phone_number_id": ADA_PHONE}, {"agent_identity_id": ADA}],
    ids=["mailbox", "phone", "identity"],
)
def test_subscription_disabled_goes_only_to_org_wide_subscriptions(owner: dict[str, str]) -> None:
    owned = sub("s-owned", **owner)
    org_wide = sub("s-org")
    # Even an event that names Ada's channels goes to organization-wide subscriptions only.
    e = event(
        SUBSCRIPTION_DISABLED,
        mailbox_id=ADA_MAILBOX,
        phone_number_id=ADA_PHONE,
        agent_identity_id=ADA,
    )
    assert not routing.matches(owned, e)
    assert routing.matches(org_wide, e)
    assert ids(routing.route([owned, org_wide], e)) == ["s-org"]


def test_route_returns_every_match_sorted_by_id() -> None:
    candidates = [
        sub("s-5-org"),
        sub("s-1-bob", mailbox_id=BOB_MAILBOX),
        sub("s-3-ada-mailbox", mailbox_id=ADA_MAILBOX),
        sub("s-2-ada", agent_identity_id=ADA),
        sub("s-4-ada-phone", phone_number_id=ADA_PHONE),
        sub("s-0-off", enabled=False),
        sub("s-6-other-org", organization_id=OTHER_ORG),
    ]
    assert ids(routing.route(candidates, ada_mail())) == [
        "s-0-off",
        "s-2-ada",
        "s-3-ada-mailbox",
        "s-5-org",
    ]
    assert ids(routing.route(reversed(candidates), ada_text())) == [
        "s-0-off",
        "s-2-ada",
        "s-4-ada-phone",
        "s-5-org",
    ]
    assert routing.route([], ada_mail()) == []


def test_is_org_wide() -> None:
    assert routing.is_org_wide(sub("a"))
    assert not routing.is_org_wide(sub("b", mailbox_id=ADA_MAILBOX))
    assert not routing.is_org_wide(sub("c", phone_number_id=ADA_PHONE))
    assert not routing.is_org_wide(sub("d", agent_identity_id=ADA))


def test_signing_key_owner() -> None:
    assert routing.signing_key_owner(sub("a", agent_identity_id=ADA, owner_identity_id=ADA)) == ADA
    assert routing.signing_key_owner(sub("b", mailbox_id=ADA_MAILBOX, owner_identity_id=ADA)) == ADA
    assert routing.signing_key_owner(sub("c")) is None
    # a mailbox's webhook_url: its owner's key, never the organization's (an agent sets it)
    mailbox_webhook = sub("d", mailbox_id=ADA_MAILBOX, owner_identity_id=ADA, source="mailbox")
    assert routing.signing_key_owner(mailbox_webhook) == ADA
    unowned = sub("e", mailbox_id=ADA_MAILBOX, owner_identity_id=None, source="mailbox")
    assert routing.signing_key_owner(unowned) is None
