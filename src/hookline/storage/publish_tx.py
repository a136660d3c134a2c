"""Publishing: each event with its deliveries, in one transaction.

A publish may ask for some of its deliveries to be written already leased (``Lease``): they
come back claimed, with what sending them needs, so the one who holds the lease sends them
without a claim of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import sqlalchemy as sa

from hookline.core.errors import EventConflict
from hookline.core.models import ClaimedDelivery, Delivery, Event, Subscription
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.claim_tx import attach_signing_keys, gone, secrets, settle
from hookline.storage.queue_sql import QueueStatements
from hookline.storage.records import NewDeliveries, Published
from hookline.storage.sql_base import Row

_e, _d = t.events, t.deliveries


def _stored(conn: sa.Connection, ev: Event, index: int) -> Published:
    """The stored event of a repeated id, and how many deliveries it has; ``EventConflict``
    if ``ev`` (``index`` among the items) is not the same event."""
    row = (
        conn.execute(
            sa.select(_e).where(_e.c.organization_id == ev.organization_id, _e.c.id == ev.id)
        )
        .mappings()
        .one()
    )
    differs = rows.event_difference(row, ev)
    if differs is not None:
        raise EventConflict(ev.id, differs=differs, index=index)
    count = conn.execute(
        sa.select(sa.func.count()).where(
            _d.c.organization_id == ev.organization_id, _d.c.event_id == ev.id
        )
    ).scalar_one()
    return Published(event=rows.event(row), deliveries=int(count), created=False)


def leased_subscriptions(items: Sequence[NewDeliveries]) -> set[str]:
    """The subscriptions whose deliveries ``items`` write leased."""
    return {
        dl.subscription_id
        for i in items
        if i.lease is not None
        for dl in i.deliveries
        if dl.subscription_id in i.lease.subscription_ids
    }


class PublishTx(QueueStatements):
    """The publish."""

    def _insert_events_tx(
        self,
        conn: sa.Connection,
        items: Sequence[NewDeliveries],
        known: Mapping[str, Subscription],
    ) -> list[Published]:
        """Write ``items``. ``known``: subscriptions of leased deliveries as this process
        last saw them, to be checked against their stored version rather than read whole."""
        out: list[Published | None] = [None] * len(items)
        created = self._insert_new_events(conn, items)
        made: list[tuple[Delivery, str | None]] = []
        leased: dict[int, list[Delivery]] = {}
        pending = False
        for n, item in enumerate(items):
            key = (item.event.organization_id, item.event.id)
            if key not in created:
                continue
            created.discard(key)  # a later copy of the id in this batch is a repeat
            lease = item.lease
            for dl in item.deliveries:
                if lease is not None and dl.subscription_id in lease.subscription_ids:
                    if dl.state != "delivering" or dl.next_attempt_at_ms != lease.until_ms:
                        dl = replace(dl, state="delivering", next_attempt_at_ms=lease.until_ms)
                    leased.setdefault(n, []).append(dl)
                    made.append((dl, lease.token))
                else:
                    pending = pending or dl.state == "pending"
                    made.append((dl, None))
            out[n] = Published(event=item.event, deliveries=len(item.deliveries), created=True)
        if made:
            self._insert_deliveries(conn, made)
        if pending:
            self._announce_due(conn)
        if leased:
            self._attach_leased(conn, items, out, leased, known)
        for n, item in enumerate(items):
            if out[n] is None:
                # an id stored already, or repeated within these items: a repeat if it carries
                # the same content, else a conflict that rolls the whole transaction back
                out[n] = _stored(conn, item.event, n)
        return [p for p in out if p is not None]

    def _attach_leased(
        self,
        conn: sa.Connection,
        items: Sequence[NewDeliveries],
        out: list[Published | None],
        leased: dict[int, list[Delivery]],
        known: Mapping[str, Subscription],
    ) -> None:
        """The leased deliveries as a claim returns them: with their signing material.

        A fan-out to many subscriptions reads only what ``known`` subscriptions do not carry
        (secrets, deletion) for those still stored at the version known; any whose version
        moved since is read and decoded whole, as a claim does."""
        sub_ids = list({dl.subscription_id for dls in leased.values() for dl in dls})
        subs: dict[str, Subscription] = {}
        sub_rows: dict[str, Row] = {}
        mine = [sid for sid in sub_ids if sid in known]
        for r in self._signing_rows(conn, mine) if mine else ():
            # one changed since it was seen (by another process, say) has moved its updated_ms
            if r["updated_ms"] == known[r["id"]].updated_at_ms:
                sub_rows[r["id"]], subs[r["id"]] = r, known[r["id"]]
        unread = [sid for sid in sub_ids if sid not in subs]
        for r in self._subscription_rows(conn, unread) if unread else ():
            sub_rows[r["id"]], subs[r["id"]] = r, rows.subscription(r)
        claimed: list[ClaimedDelivery] = []
        owner: list[int] = []
        stale: list[tuple[str, str, str]] = []
        for n, dls in leased.items():
            item = items[n]
            assert item.lease is not None
            for dl in dls:
                sub_row = sub_rows[dl.subscription_id]
                # routed from memory an instant before the subscription went: as a claim would
                went = gone(sub_row)
                if went is not None:
                    stale.append((dl.id, *went))
                    continue
                claimed.append(
                    ClaimedDelivery(
                        delivery=dl,
                        event=item.event,
                        subscription=subs[dl.subscription_id],
                        lease_token=item.lease.token,
                        secret_ciphertexts=secrets(sub_row, dl.created_at_ms),
                        auth_token_ciphertext=sub_row["auth_token_enc"],
                        headers_ciphertext=sub_row["headers_enc"],
                    )
                )
                owner.append(n)
        for n, dls in leased.items():
            lease = items[n].lease
            assert lease is not None
            ids = {dl.id for dl in dls}
            settle(conn, [x for x in stale if x[0] in ids], lease.token, dls[0].created_at_ms)
        attach_signing_keys(conn, claimed)
        for n in leased:
            published = out[n]
            assert published is not None
            out[n] = replace(
                published, leased=tuple(c for c, o in zip(claimed, owner, strict=True) if o == n)
            )
