"""Who is calling, and what they may see."""

from __future__ import annotations

from hookline.core.errors import Forbidden
from hookline.core.frozen import frozen
from hookline.core.models import Scope


@frozen
class Principal:
    organization_id: str
    scope: Scope
    #: the identity an agent key is bound to (None for admin keys)
    identity_id: str | None = None
    key_id: str | None = None
    #: a portal session's channel (services/portal.py): only that mailbox's or phone
    #: number's subscriptions, beyond the identity's bound
    mailbox_id: str | None = None
    phone_number_id: str | None = None

    @property
    def channel(self) -> tuple[str, str] | None:
        """``("mailbox_id" | "phone_number_id", id)`` when bound to one channel."""
        if self.mailbox_id is not None:
            return "mailbox_id", self.mailbox_id
        if self.phone_number_id is not None:
            return "phone_number_id", self.phone_number_id
        return None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this action needs an admin API key")
