"""SQLite's set-at-a-time claim read (storage/sqlite_sql.py) keeps up with the schema."""

from __future__ import annotations

from hookline.storage import sqlite_sql
from hookline.storage import tables as t

#: the columns a claim's lease sets itself, which the read after it need not return
SET_BY_THE_LEASE = {"state", "lease_token", "next_attempt_ms", "updated_ms"}


def test_the_claim_reads_every_column_the_lease_did_not_set() -> None:
    """A column added to either table must be read back, or claimed deliveries lose it."""
    read = sqlite_sql._CLAIMED
    wanted = [f"d.{c.name}" for c in t.deliveries.c if c.name not in SET_BY_THE_LEASE]
    wanted += [f"e.{c.name}" for c in t.events.c]
    missing = [column for column in wanted if column not in read]
    assert missing == []


def test_the_claim_builds_objects_from_the_columns_in_their_order() -> None:
    """``claimed`` reads the aggregate by position: the order it expects is the statement's."""
    select = sqlite_sql._CLAIMED.split("json_array(", 1)[1].split("))", 1)[0]
    columns = [c.strip().removeprefix("json(").removesuffix(")") for c in select.split(",")]
    assert columns == [
        "d.id", "d.subscription_id", "d.attempts", "d.first_attempt_ms", "d.last_attempt_ms",
        "d.last_status", "d.last_error", "d.created_ms", "d.pull", "d.replay",
        "e.organization_id", "e.id", "e.type", "e.mailbox_id", "e.phone_number_id",
        "e.agent_identity_id", "e.domain", "e.data", "e.occurred_ms", "e.created_ms",
    ]  # fmt: skip
