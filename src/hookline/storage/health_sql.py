"""What the console shows of subscriptions' health: the SQL shared by both databases.

The Webhooks list asks for a whole page of subscriptions at once, so each part is one grouped
query over the page's ids (``ix_attempts_subscription`` serves them), never one per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from hookline.storage import tables as t
from hookline.storage.records import HourCount, LastAttempt, SubscriptionHealth
from hookline.storage.sql_base import SqlBase

HOUR_MS = 3_600_000
#: how many of the newest events the sending domains are gathered from: the form offers the
#: domains in use lately, and the read stays bounded however many events are kept
DOMAIN_SCAN_EVENTS = 5000

_a, _s, _e = t.attempts, t.subscriptions, t.events
_newer = _a.alias("newer")
_SUCCESS = sa.and_(_a.c.response_status >= 200, _a.c.response_status < 300)


class HealthRows(SqlBase):
    """Subscriptions' recent attempts, as the console shows them."""

    async def subscription_health(
        self, org_id: str, sub_ids: Sequence[str], since_ms: int
    ) -> dict[str, SubscriptionHealth]:
        ids = list(dict.fromkeys(sub_ids))
        if not ids:
            return {}
        subs = await self._all(
            sa.select(_s.c.id, _s.c.failing_since_ms).where(
                _s.c.organization_id == org_id, _s.c.id.in_(ids)
            )
        )
        found = [r["id"] for r in subs]
        if not found:
            return {}
        hour = ((_a.c.created_ms - since_ms) // HOUR_MS).label("hour")
        succeeded = sa.func.sum(sa.case((_SUCCESS, 1), else_=0)).label("succeeded")
        counts = await self._all(
            sa.select(_a.c.subscription_id, hour, succeeded, sa.func.count().label("n"))
            # by subscription and time only (``found`` is the organization's already): that
            # is ``ix_attempts_subscription``, where the organization's would scan all its
            # attempts of the day
            .where(_a.c.subscription_id.in_(found), _a.c.created_ms >= since_ms)
            .group_by(_a.c.subscription_id, hour)
            .order_by(_a.c.subscription_id, hour)
        )
        # the newest attempt of each: one index probe per subscription, in one statement
        newest = (
            sa.select(_newer.c.id)
            .where(_newer.c.subscription_id == _s.c.id)
            .order_by(_newer.c.created_ms.desc(), _newer.c.id.desc())
            .limit(1)
            .correlate(_s)
            .scalar_subquery()
        )
        lasts = await self._all(
            sa.select(
                _s.c.id.label("sub_id"),
                _a.c.response_status,
                _a.c.error_detail,
                _a.c.created_ms,
            )
            .select_from(_s.join(_a, _a.c.id == newest))
            .where(_s.c.organization_id == org_id, _s.c.id.in_(found))
        )
        hours: dict[str, list[HourCount]] = {sid: [] for sid in found}
        for r in counts:
            ok = int(r["succeeded"] or 0)
            hours[r["subscription_id"]].append(
                HourCount(hour=int(r["hour"]), succeeded=ok, failed=int(r["n"]) - ok)
            )
        last = {
            r["sub_id"]: LastAttempt(
                status=r["response_status"], error=r["error_detail"], created_at_ms=r["created_ms"]
            )
            for r in lasts
        }
        return {
            r["id"]: SubscriptionHealth(
                hours=tuple(hours[r["id"]]),
                last=last.get(r["id"]),
                failing_since_ms=r["failing_since_ms"],
            )
            for r in subs
        }

    async def event_domains(
        self, org_id: str, limit: int, identity_id: str | None = None
    ) -> list[str]:
        recent = sa.select(_e.c.domain, _e.c.created_ms).where(
            _e.c.organization_id == org_id, _e.c.domain.is_not(None)
        )
        if identity_id is not None:
            recent = recent.where(_e.c.agent_identity_id == identity_id)
        newest = recent.order_by(_e.c.created_ms.desc()).limit(DOMAIN_SCAN_EVENTS).subquery()
        latest = sa.func.max(newest.c.created_ms)
        found = await self._all(
            sa.select(newest.c.domain)
            .group_by(newest.c.domain)
            .order_by(latest.desc(), newest.c.domain)
            .limit(limit)
        )
        return [r["domain"] for r in found]
