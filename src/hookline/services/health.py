"""Webhooks' health for the console: the last 24 hours' attempts hour by hour, the newest
attempt, since when a webhook has been failing; and the sending domains to offer."""

from __future__ import annotations

from collections.abc import Sequence

from hookline.core.frozen import frozen
from hookline.core.models import Subscription
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.services.subscription_rules import visible
from hookline.services.subscriptions import SubscriptionService
from hookline.storage.base import Storage
from hookline.storage.records import LastAttempt

HOUR_MS = 3_600_000
HOURS = 24
#: how many sending domains the add form offers: the most recently named ones
MAX_DOMAINS = 200


@frozen
class Hour:
    start_ms: int
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


@frozen
class Health:
    """One webhook's last ``HOURS`` hours, oldest hour first (the last one is under way)."""

    hours: tuple[Hour, ...]
    last: LastAttempt | None
    failing_since_ms: int | None

    @property
    def succeeded(self) -> int:
        return sum(h.succeeded for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)

    @property
    def success_percent(self) -> int | None:
        """Whole percent, rounded down (99.9 % is not shown as 100 %); None: no attempts."""
        total = self.succeeded + self.failed
        return None if total == 0 else self.succeeded * 100 // total


class HealthService:
    def __init__(self, storage: Storage, clock: Clock, subscriptions: SubscriptionService) -> None:
        self._storage = storage
        self._clock = clock
        self._subscriptions = subscriptions

    async def of(self, principal: Principal, subs: Sequence[Subscription]) -> dict[str, Health]:
        """The health of each of ``subs`` the principal may see, in one grouped read."""
        seen = [s.id for s in subs if visible(principal, s)]
        # whole hours: the current one, under way, and the 23 before it
        first_ms = (self._clock.now_ms() // HOUR_MS - (HOURS - 1)) * HOUR_MS
        found = await self._storage.subscription_health(principal.organization_id, seen, first_ms)
        out: dict[str, Health] = {}
        for sub_id, stored in found.items():
            counts = {c.hour: c for c in stored.hours}
            hours = []
            for i in range(HOURS):
                c = counts.get(i)
                hours.append(
                    Hour(
                        start_ms=first_ms + i * HOUR_MS,
                        succeeded=c.succeeded if c else 0,
                        failed=c.failed if c else 0,
                    )
                )
            out[sub_id] = Health(
                hours=tuple(hours), last=stored.last, failing_since_ms=stored.failing_since_ms
            )
        return out

    async def sending_domains(self, principal: Principal) -> list[str]:
        """The domains the principal's events named lately (an agent: its identity's)."""
        identity = None if principal.is_admin else principal.identity_id or ""
        return await self._storage.event_domains(
            principal.organization_id, MAX_DOMAINS, identity_id=identity
        )
