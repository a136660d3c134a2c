"""Which subscriptions want an event. Pure: the caller brings the candidates."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from hookline.core.catalog import SUBSCRIPTION_DISABLED
from hookline.core.models import Event, Subscription


def owner_matches(sub: Subscription, event: Event) -> bool:
    """A mailbox subscription gets its mailbox's events, an identity subscription those of
    the identity and its channels, an organization-wide one everything in the organization."""
    if sub.mailbox_id is not None:
        return sub.mailbox_id == event.mailbox_id
    if sub.phone_number_id is not None:
        return sub.phone_number_id == event.phone_number_id
    if sub.agent_identity_id is not None:
        return sub.agent_identity_id == event.agent_identity_id
    return True


def signing_key_owner(sub: Subscription) -> str | None:
    """Whose signing key signs ``sub``'s inkbox-profile deliveries: the owning identity's
    (that of the identity, or of the mailbox or phone number's owner), or the
    organization's (None) when no identity owns it. A mailbox's webhook URL follows the same
    rule, so an agent that sets its own mailbox's URL only ever causes or sees its own key,
    never the organization's, which signs for every organization-wide receiver."""
    return sub.owner_identity_id


def is_org_wide(sub: Subscription) -> bool:
    return sub.mailbox_id is None and sub.phone_number_id is None and sub.agent_identity_id is None


def matches(sub: Subscription, event: Event) -> bool:
    """Whether ``sub`` wants ``event``, enabled or not: a disabled subscription's deliveries
    are made ``held`` (the publish decides), not left out."""
    if sub.organization_id != event.organization_id:
        return False
    if event.type not in sub.event_types:
        return False
    if event.type == SUBSCRIPTION_DISABLED and not is_org_wide(sub):
        return False
    if sub.domains and (event.domain is None or event.domain.lower() not in sub.domains):
        return False
    return owner_matches(sub, event)


def route(candidates: Iterable[Subscription], event: Event) -> list[Subscription]:
    """The subscriptions that get ``event``, in a stable order (by id)."""
    found = [s for s in candidates if matches(s, event)]
    if len(found) > 1:  # most events go to one subscription: a batch routes 1,000 of them
        found.sort(key=_by_id)
    return found


_by_id = attrgetter("id")
