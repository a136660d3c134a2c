"""A mailbox's ``webhook_url`` (Inkbox mailbox webhooks): all of its mail events, one URL.

It is kept as a subscription of source ``mailbox`` owned by the mailbox (inkbox profile), so
it shares the whole delivery path, and it is signed like every other subscription: with the
signing key of the identity that owns the mailbox. An agent may create that key for itself;
the organization's key, which signs every organization-wide subscription, it can neither
see nor cause. A mailbox no identity owns can only have its URL set by an admin, and is
signed with the organization's key.
"""

from __future__ import annotations

from hookline.core import validation
from hookline.core.catalog import CATALOG
from hookline.core.frozen import frozen
from hookline.core.models import Mailbox
from hookline.services.destinations import DestinationCheck
from hookline.services.owners import OwnerService
from hookline.services.principal import Principal
from hookline.services.subscription_rules import SubscriptionInput
from hookline.services.subscriptions import SubscriptionService
from hookline.storage.base import Storage
from hookline.storage.records import SubscriptionFilter

MAILBOX_SOURCE = "mailbox"
MAIL_EVENT_TYPES = tuple(t.name for t in CATALOG.values() if t.channel == "mail")


@frozen
class MailboxWebhook:
    mailbox: Mailbox
    #: the key that signs the webhook (the owning identity's, or the organization's for a
    #: mailbox no identity owns), when setting the URL created it (shown once)
    signing_key: str | None


class MailboxWebhookService:
    def __init__(
        self,
        storage: Storage,
        owners: OwnerService,
        subscriptions: SubscriptionService,
        *,
        allow_http: bool,
        destinations: DestinationCheck,
    ) -> None:
        self._destinations = destinations
        self._storage = storage
        self._owners = owners
        self._subscriptions = subscriptions
        self._allow_http = allow_http

    async def set_url(
        self, principal: Principal, email_address: str, url: str | None
    ) -> MailboxWebhook:
        """Set (or with None, clear at once) the mailbox's all-events webhook URL."""
        mailbox = await self._owners.mailbox(principal, email_address)
        if mailbox.agent_identity_id is None:
            # its webhook would be signed with the organization's key
            principal.require_admin()
        if url is not None:
            url = validation.url(url, allow_http=self._allow_http, field="webhook_url")
            await self._destinations.check(url, "webhook_url")
        existing = await self._storage.list_subscriptions(
            principal.organization_id,
            SubscriptionFilter(mailbox_id=mailbox.id, source=MAILBOX_SOURCE),
            limit=10,
            offset=0,
        )
        signing_key = None
        if url is None:
            for sub in existing:
                await self._subscriptions.delete(principal, sub.id)
        elif existing:
            updated_sub = await self._subscriptions.update(principal, existing[0].id, {"url": url})
            # one set by an earlier version may sign with a key its owner does not have yet
            signing_key = await self._subscriptions.ensure_signing_key(updated_sub)
        else:
            created = await self._subscriptions.create(
                principal,
                SubscriptionInput(
                    url=url,
                    event_types=MAIL_EVENT_TYPES,
                    mailbox_id=mailbox.id,
                    profile="inkbox",
                    name=f"webhook_url of {mailbox.email_address}",
                    source=MAILBOX_SOURCE,
                ),
            )
            signing_key = created.signing_key
        await self._storage.update_mailbox(
            principal.organization_id, mailbox.id, {"webhook_url": url}
        )
        updated = await self._owners.mailbox(principal, email_address)
        return MailboxWebhook(mailbox=updated, signing_key=signing_key)
