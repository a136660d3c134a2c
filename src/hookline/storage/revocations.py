"""Disabling or deleting a subscription takes effect when the request answers, in every worker.

The transaction that disables or deletes a subscription makes its undelivered deliveries held
or cancelled, which voids the workers' leases on them; but a worker holds leased deliveries in
memory, ready to send, and would not see that until it writes an outcome. So every worker is
told, and the request waits (a little, bounded) until each has said it starts nothing more of
the subscription:

- SQLite has one process: the service tells its worker directly (SubscriptionService).
- PostgreSQL: the transaction sends ``REVOKE_CHANNEL`` with the subscription's id on commit,
  and reads which workers are listening (``pg_stat_activity``, by the application name their
  listening connection carries). Each worker, hearing it, drops the subscription's deliveries
  from its lanes and answers on ``ACK_CHANNEL`` (Dispatcher.revoke). The request listens for
  those answers on a connection of its own, opened before the transaction, so none is missed.

A worker that does not answer in time (stopped, or its connection lost unnoticed) is waited
for no longer than ``ACK_WAIT_S``; the request then answers anyway and says so in the log.
A worker that is not listening is not found, and not waited for: it starts nothing until it
listens, and a stopped one gives back all it holds when it runs again (Dispatcher.hearing
and Dispatcher._check_awake); docs/api.md says what the answer guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import os

import sqlalchemy as sa

log = logging.getLogger("hookline.storage")

REVOKE_CHANNEL = "hookline_revoke"
ACK_CHANNEL = "hookline_revoked"
#: the application name of a worker's listening connection: this prefix and its ``WORKER_TAG``
WORKER_APP = "hookline-worker "
#: this process's name among the workers
WORKER_TAG = os.urandom(6).hex()
#: the longest a disabling or deletion waits for the workers' answers
ACK_WAIT_S = 3.0

NOTIFY_REVOKE = sa.text(f"SELECT pg_notify('{REVOKE_CHANNEL}', :sub_id)")
ACK = sa.text(f"SELECT pg_notify('{ACK_CHANNEL}', :payload)")
LISTENING_WORKERS = sa.text(
    "SELECT DISTINCT substr(application_name, :skip) FROM pg_stat_activity "
    # the workers of this database: another's (one cluster, several Hookline databases)
    # hear nothing of this one's notifications, and would be waited for in vain
    "WHERE application_name LIKE :prefix AND datname = current_database()"
).bindparams(skip=len(WORKER_APP) + 1, prefix=WORKER_APP + "%")


def ack_payload(sub_id: str) -> str:
    return f"{sub_id} {WORKER_TAG}"


class Revocation:
    """One disabling or deletion: the workers that must answer, and those that have."""

    def __init__(self) -> None:
        self.sub_id: str | None = None
        self.workers: frozenset[str] = frozenset()
        self._answered: set[str] = set()
        self._all = asyncio.Event()

    def expect(self, sub_id: str, workers: frozenset[str]) -> None:
        self.sub_id, self.workers = sub_id, workers
        self._check()

    def heard(self, payload: str) -> None:
        sub_id, _, tag = payload.partition(" ")
        if self.sub_id is None or sub_id == self.sub_id:
            self._answered.add(f"{sub_id} {tag}")
            self._check()

    def _check(self) -> None:
        if self.sub_id is not None and all(
            f"{self.sub_id} {w}" in self._answered for w in self.workers
        ):
            self._all.set()

    async def wait(self) -> None:
        if self.sub_id is None or not self.workers:
            return
        try:
            await asyncio.wait_for(self._all.wait(), ACK_WAIT_S)
        except TimeoutError:
            missing = sorted(w for w in self.workers if f"{self.sub_id} {w}" not in self._answered)
            log.warning(
                "subscription %s: %d worker(s) did not confirm within %g s that they stopped "
                "sending it (%s)",
                self.sub_id,
                len(missing),
                ACK_WAIT_S,
                ", ".join(missing),
                extra={"subscription_id": self.sub_id},
            )
