"""Claims: leasing due deliveries with what sending them needs, and giving leases back.

A claimed delivery comes with its event, its subscription and the ciphertexts that sign it;
a delivery whose subscription went meanwhile is settled instead (held or cancelled).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from hookline.core import ids, profiles
from hookline.core.models import ClaimedDelivery
from hookline.core.routing import signing_key_owner
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.queue_sql import QueueStatements, key_owner

_d, _k = t.deliveries, t.signing_keys


def secrets(sub_row: Mapping[Any, Any], now_ms: int) -> tuple[str, ...]:
    """The secrets that sign a subscription's deliveries now (the previous one during its
    grace period). ``inkbox`` deliveries get their owner's key instead, later."""
    if sub_row["profile"] not in profiles.PER_SUBSCRIPTION_SECRET:
        return ()
    found: list[str] = []
    if sub_row["secret_enc"]:
        found.append(sub_row["secret_enc"])
    until = sub_row["previous_secret_until_ms"]
    if sub_row["previous_secret_enc"] and until is not None and until > now_ms:
        found.append(sub_row["previous_secret_enc"])
    return tuple(found)


def gone(sub_row: Mapping[Any, Any]) -> tuple[str, str] | None:
    """The state and reason for a delivery of a deleted or disabled subscription, if it is:
    cancelled, or held until the subscription is enabled again."""
    if sub_row["deleted_ms"] is not None:
        return "cancelled", "subscription deleted"
    if not sub_row["enabled"]:
        return "held", sub_row["disabled_reason"] or "subscription disabled"
    return None


def settle(
    conn: sa.Connection, stale: Sequence[tuple[str, str, str]], token: str, now_ms: int
) -> None:
    """Give leased deliveries of gone subscriptions their final state instead of an attempt."""
    for delivery_id, state, reason in stale:
        conn.execute(
            _d.update()
            .where(_d.c.id == delivery_id, _d.c.lease_token == token)
            .values(
                state=state,
                lease_token=None,
                next_attempt_ms=None,
                last_error=reason,
                updated_ms=now_ms,
            )
        )


def attach_signing_keys(conn: sa.Connection, claimed: list[ClaimedDelivery]) -> None:
    """Give ``inkbox`` deliveries their owner's current signing key, in place."""
    wanted = {
        (c.subscription.organization_id, signing_key_owner(c.subscription))
        for c in claimed
        if c.subscription.profile == profiles.INKBOX
    }
    if not wanted:
        return
    keys: dict[tuple[str, str | None], tuple[str, str]] = {}
    for org_id, ident in wanted:
        row = conn.execute(
            sa.select(_k.c.key_enc, _k.c.id)
            .where(_k.c.organization_id == org_id, key_owner(ident), _k.c.retired_ms.is_(None))
            .order_by(_k.c.created_ms.desc())
            .limit(1)
        ).first()
        if row is not None:
            keys[(org_id, ident)] = (row[0], row[1])
    for i, c in enumerate(claimed):
        if c.subscription.profile == profiles.INKBOX:
            key = keys.get((c.subscription.organization_id, signing_key_owner(c.subscription)))
            claimed[i] = ClaimedDelivery(
                delivery=c.delivery,
                event=c.event,
                subscription=c.subscription,
                lease_token=c.lease_token,
                secret_ciphertexts=(key[0],) if key else (),
                auth_token_ciphertext=c.auth_token_ciphertext,
                signing_key_id=key[1] if key else None,
                headers_ciphertext=c.headers_ciphertext,
            )


class ClaimTx(QueueStatements):
    """The claim and the release."""

    def _claim_tx(
        self,
        conn: sa.Connection,
        now_ms: int,
        limit: int,
        lease_ms: int,
        exclude: Collection[str],
        only: str | None,
        after_ms: int | None = None,
    ) -> list[ClaimedDelivery]:
        token = ids.new_uuid()
        after = -1 if after_ms is None else after_ms  # due times are never negative
        leased_ids = self._claim_ids(
            conn, now_ms, limit, lease_ms, token, sorted(exclude), only, after
        )
        if not leased_ids:
            return []
        found = self._claimed(conn, leased_ids, now_ms + lease_ms, now_ms)
        # a batch usually spans few subscriptions: load and decode each once
        sub_ids = list({d.subscription_id for d, _ in found})
        sub_rows = {r["id"]: r for r in self._subscription_rows(conn, sub_ids)}
        went = {sid: g for sid, r in sub_rows.items() if (g := gone(r)) is not None}
        subs = {
            sid: (rows.subscription(r), secrets(r, now_ms), r["auth_token_enc"], r["headers_enc"])
            for sid, r in sub_rows.items()
            if sid not in went
        }
        claimed: list[ClaimedDelivery] = []
        stale: list[tuple[str, str, str]] = []
        for delivery, event in found:
            known = subs.get(delivery.subscription_id)
            if known is None:
                stale.append((delivery.id, *went[delivery.subscription_id]))
                continue
            sub, signing, auth, headers = known
            claimed.append(
                ClaimedDelivery(
                    delivery=delivery,
                    event=event,
                    subscription=sub,
                    lease_token=token,
                    secret_ciphertexts=signing,
                    auth_token_ciphertext=auth,
                    headers_ciphertext=headers,
                )
            )
        settle(conn, stale, token, now_ms)
        attach_signing_keys(conn, claimed)
        return claimed

    def _release_tx(
        self,
        conn: sa.Connection,
        delivery_ids: Sequence[str],
        lease_token: str,
        now_ms: int,
        due_ms: int | None,
    ) -> None:
        conn.execute(
            _d.update()
            .where(
                _d.c.id.in_(list(delivery_ids)),
                _d.c.lease_token == lease_token,
                _d.c.state == "delivering",
            )
            .values(
                state="pending",
                lease_token=None,
                next_attempt_ms=now_ms if due_ms is None else due_ms,
                updated_ms=now_ms,
            )
        )
