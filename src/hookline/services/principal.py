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

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this action needs an admin API key")
