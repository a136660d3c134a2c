"""The schema, shared by SQLite and PostgreSQL. Times are epoch milliseconds (``*_ms``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

#: the rows a worker's claim may take (and ix_deliveries_due covers): spelled the same in the
#: claims, as SQLite uses a partial index only for a query that repeats its terms
DUE_PREDICATE = "state IN ('pending', 'delivering') AND NOT pull"
#: the tasks a worker may still take up (tasks.ux_tasks_active_subscription)
ACTIVE_TASK_PREDICATE = "state IN ('queued', 'running')"

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_ms", BigInteger, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("agent_handle", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("organization_id", "agent_handle", name="uq_identities_handle"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    #: a SHA-256 in hex (generated keys) or an argon2id string (operator-chosen keys)
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scope", String(10), nullable=False),
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("name", String(200), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("email_address", String(254), nullable=False, unique=True),
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("webhook_url", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("number", String(16), nullable=False, unique=True),
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("incoming_call_action", String(20), nullable=False, default="auto_reject"),
    Column("incoming_call_webhook_url", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    # NULL: the organization's own key
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("key_enc", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("retired_ms", BigInteger, nullable=True),
    Index("ix_signing_keys_owner", "organization_id", "agent_identity_id", "retired_ms"),
)

#: a value sealed with the master key at first start and opened at every start: a process
#: given the wrong key refuses to start instead of failing at every secret it reads
secret_checks = Table(
    "secret_checks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("check_enc", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("mailbox_id", String(36), ForeignKey("mailboxes.id"), nullable=True),
    Column("phone_number_id", String(36), ForeignKey("phone_numbers.id"), nullable=True),
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("owner_identity_id", String(36), nullable=True),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),  # JSON list
    Column("name", String(200), nullable=True),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text, nullable=True),
    Column("profile", String(20), nullable=False),
    Column("headers", Text, nullable=False),  # JSON object
    Column("domains", Text, nullable=False),  # JSON list
    Column("retry_schedule", Text, nullable=True),  # JSON list or NULL for the server's
    Column("max_in_flight", Integer, nullable=True),
    Column("rate_limit_per_second", Float, nullable=True),
    Column("auth_token_enc", Text, nullable=True),
    Column("secret_enc", Text, nullable=True),
    Column("previous_secret_enc", Text, nullable=True),
    Column("previous_secret_until_ms", BigInteger, nullable=True),
    Column("failing_since_ms", BigInteger, nullable=True),
    # who manages it: "api" (the subscriptions API), "mailbox" (a mailbox's webhook_url),
    # "inbox" (the Inbox-style /v1/webhooks API)
    Column("source", String(10), nullable=False, server_default="api"),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("deleted_ms", BigInteger, nullable=True),
    # the custom headers' values, sealed as one JSON object; ``headers`` then holds the names
    # with masked values. NULL with headers: written before values were sealed (plain)
    Column("headers_enc", Text, nullable=True),
    # "push": workers POST its deliveries to url; "pull": a consumer takes them over the API
    # (url is empty)
    Column("mode", String(8), nullable=False, server_default="push"),
    Index("ix_subscriptions_org", "organization_id", "deleted_ms"),
)

events = Table(
    "events",
    metadata,
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("id", String(128), nullable=False),
    Column("type", String(100), nullable=False),
    Column("mailbox_id", String(36), nullable=True),
    Column("phone_number_id", String(36), nullable=True),
    Column("agent_identity_id", String(36), nullable=True),
    Column("domain", String(253), nullable=True),
    Column("data", Text, nullable=False),  # JSON object
    Column("occurred_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("organization_id", "id", name="pk_events"),
    # the newest events first: the sending domains the console offers, recent events
    Index("ix_events_org_created", "organization_id", "created_ms"),
    # retention finds the oldest events by it (retention_tx.py)
    Index("ix_events_created", "created_ms"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("subscription_id", String(36), ForeignKey("subscriptions.id"), nullable=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    # when pending: when it falls due; while delivering: when the lease expires, so that a
    # dead worker's deliveries fall due again with no separate sweep
    Column("next_attempt_ms", BigInteger, nullable=True),
    Column("lease_token", String(36), nullable=True),
    Column("first_attempt_ms", BigInteger, nullable=True),
    Column("last_attempt_ms", BigInteger, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    # a pull subscription's: leased by its consumer over the API, never claimed by a worker
    Column("pull", Boolean, nullable=False, server_default=false()),
    # re-queued by a bulk replay after it had been sent: its next attempts are replays
    Column("replay", Boolean, nullable=False, server_default=false()),
    # the workers' claims: pull deliveries stay out, so that a consumer away for a while
    # leaves no pile of due rows for every claim to step over
    Index(
        "ix_deliveries_due",
        "next_attempt_ms",
        sqlite_where=text(DUE_PREDICATE),
        postgresql_where=text(DUE_PREDICATE),
    ),
    # a hot lane's own claims: one subscription's undelivered rows in due order
    Index(
        "ix_deliveries_lane",
        "subscription_id",
        "next_attempt_ms",
        sqlite_where=text("state IN ('pending', 'delivering')"),
        postgresql_where=text("state IN ('pending', 'delivering')"),
    ),
    Index("ix_deliveries_event", "organization_id", "event_id"),
    # also a bulk replay's batches: one state of a subscription's, oldest first
    Index("ix_deliveries_subscription", "subscription_id", "state", "created_ms", "id"),
)


def _partial_index(name: str, column: str, where: str, *, sqlite: str | None = None) -> Index:
    """An index of the log by (organization, ``column``, created_ms, id) over the rows that
    ``where`` holds for (``sqlite``: as SQLite's query writes the same condition)."""
    return Index(
        name,
        "organization_id",
        column,
        "created_ms",
        "id",
        sqlite_where=text(sqlite or where),
        postgresql_where=text(where),
    )


attempts = Table(
    "attempts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), nullable=False),
    Column("delivery_id", String(36), nullable=True),
    Column("subscription_id", String(36), nullable=True),
    Column("phone_number_id", String(36), nullable=True),
    Column("event_id", String(128), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("request_payload", Text, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("is_replay", Boolean, nullable=False),
    Column("replayable", Boolean, nullable=False),
    Column("replay_unavailable_reason", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # copied from the subscription (its owner never changes) so the log filters by them alone
    Column("mailbox_id", String(36), nullable=True),
    Column("agent_identity_id", String(36), nullable=True),
    # the receiver answered 2xx: its own column so "failed only" is one index range
    Column("success", Boolean, nullable=False),
    # one compact JSON object each: what was sent (secrets masked) and what came back (capped)
    Column("request_headers", Text, nullable=True),
    Column("response_headers", Text, nullable=True),
    # every filter of the log has an index ending with its order, (created_ms, id). Each
    # attempt written updates every index it is in: the owner indexes hold only the attempts
    # that have that owner, and "failed only" only the failures (a log that mostly succeeds:
    # "succeeded only" reads the organization's index, where nearly every row is one)
    Index("ix_attempts_org_created", "organization_id", "created_ms", "id"),
    Index("ix_attempts_subscription", "subscription_id", "created_ms", "id"),
    _partial_index("ix_attempts_phone", "phone_number_id", "phone_number_id IS NOT NULL"),
    _partial_index("ix_attempts_mailbox", "mailbox_id", "mailbox_id IS NOT NULL"),
    _partial_index("ix_attempts_identity", "agent_identity_id", "agent_identity_id IS NOT NULL"),
    Index("ix_attempts_event", "organization_id", "event_id", "created_ms", "id"),
    Index("ix_attempts_type", "organization_id", "event_type", "created_ms", "id"),
    Index("ix_attempts_status", "organization_id", "response_status", "created_ms", "id"),
    _partial_index("ix_attempts_success", "success", "success = false", sqlite="success = 0"),
    Index("ix_attempts_delivery", "delivery_id"),
)

# -- the console ------------------------------------------------------------------------------
users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("email", String(254), nullable=False),  # lower case
    Column("password_hash", Text, nullable=False),  # argon2id, in its own encoded form
    Column("role", String(10), nullable=False),  # admin, agent, viewer
    Column("agent_identity_id", String(36), ForeignKey("identities.id"), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("password_changed_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger, nullable=True),
    UniqueConstraint("organization_id", "email", name="uq_users_email"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # the SHA-256 of the cookie's token: a database leak gives no usable cookie
    Column("id", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),  # the absolute end
    Column("revoked_ms", BigInteger, nullable=True),
    Column("csrf_secret", String(64), nullable=False),
    Index("ix_console_sessions_user", "user_id"),
)

setup_tokens = Table(
    "setup_tokens",
    metadata,
    Column("id", String(64), primary_key=True),  # the SHA-256 of the token
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger, nullable=True),
)

#: one-time portal links (core/portal.py): the SHA-256 of the link's token, and whose view
portal_links = Table(
    "portal_links",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("agent_identity_id", String(36), nullable=False),
    Column("mailbox_id", String(36), nullable=True),
    Column("phone_number_id", String(36), nullable=True),
    Column("label", String(320), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger, nullable=True),
)

#: the console sessions portal links open: no user, a scope instead
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # the SHA-256 of the cookie's token
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("agent_identity_id", String(36), nullable=False),
    Column("mailbox_id", String(36), nullable=True),
    Column("phone_number_id", String(36), nullable=True),
    Column("label", String(320), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("csrf_secret", String(64), nullable=False),
)

#: one-time links with which a user sets their own password (a new user's first, or a reset)
password_tokens = Table(
    "password_tokens",
    metadata,
    Column("id", String(64), primary_key=True),  # the SHA-256 of the token
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger, nullable=True),
)

# one row, rewritten by each readiness check on SQLite: a read works on a full disk or a
# read-only file, a committed write of some size does not (storage/sqlite.py)
readiness = Table(
    "readiness",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("checked_ms", BigInteger, nullable=False),
    Column("pad", LargeBinary, nullable=False),
)

#: background tasks (core/tasks.py): a bulk replay, carried out by a worker batch by batch
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("organization_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("subscription_id", String(36), nullable=False),
    # the subscription's owner, copied: who may see the task, also once it is deleted
    Column("mailbox_id", String(36), nullable=True),
    Column("phone_number_id", String(36), nullable=True),
    Column("agent_identity_id", String(36), nullable=True),
    Column("owner_identity_id", String(36), nullable=True),
    Column("params", Text, nullable=False),  # JSON object
    Column("state", String(12), nullable=False),
    Column("total", Integer, nullable=False),
    Column("requeued", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    # the last delivery done, (created_ms, id): the next batch starts after it
    Column("cursor_ms", BigInteger, nullable=True),
    Column("cursor_id", String(36), nullable=True),
    # the worker carrying it out, and until when; an expired lease is another's to take
    Column("lease_token", String(36), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("started_ms", BigInteger, nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
    # at most one queued or running task per subscription
    Index(
        "ux_tasks_active_subscription",
        "subscription_id",
        unique=True,
        sqlite_where=text(ACTIVE_TASK_PREDICATE),
        postgresql_where=text(ACTIVE_TASK_PREDICATE),
    ),
    Index("ix_tasks_org", "organization_id", "created_ms", "id"),
    Index("ix_tasks_subscription", "subscription_id", "created_ms", "id"),
)

#: a subscription's limits shared by every worker (storage/limits_sql.py): one row per
#: subscription with an explicit max_in_flight or rate_limit_per_second, locked by each
#: worker that asks for room; ``tat_ms`` is its rate limiter's state (core/ratelimit.py)
subscription_limits = Table(
    "subscription_limits",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("tat_ms", Float, nullable=True),
)

#: the attempts under way that one worker holds of a subscription's max_in_flight, until
#: ``expires_ms``: a worker that dies without giving its slots back loses them then
limit_holds = Table(
    "limit_holds",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("holder", String(36), primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)
