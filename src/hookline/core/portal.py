"""Customer portal links: a one-time URL that opens a console session scoped to one owner.

A platform embeds Hookline's pages for its own customers: it asks for a link for one identity
(or one of its mailboxes or phone numbers), and whoever opens it sees and manages that
owner's webhooks, as an agent user of that identity would, and nothing else.
"""

from __future__ import annotations

from typing import Final

from hookline.core.frozen import frozen

MIN_TTL_S: Final = 60
#: a link is meant to be opened at once, by the page that asked for it: a day at most
MAX_TTL_S: Final = 86_400


@frozen
class PortalScope:
    """Whose view a portal link, and the session it opens, give."""

    organization_id: str
    #: the identity whose agent view it is (a mailbox's or number's owner)
    agent_identity_id: str
    #: what the console shows as who is signed in: the handle, address or number
    label: str
    #: with one of these, only that channel's webhooks
    mailbox_id: str | None = None
    phone_number_id: str | None = None
