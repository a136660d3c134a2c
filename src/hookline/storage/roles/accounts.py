"""Organizations, their API keys, owners (identities, mailboxes, phone numbers), signing keys
and the sealed secrets at large."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from hookline.core.models import (
    ApiKey,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
)
from hookline.storage.records import SealedRow, StoredKey


class Accounts(abc.ABC):
    """Organizations, their API keys, owners (identities, mailboxes, phone numbers), signing keys"""

    # organizations and keys ------------------------------------------------------------------
    @abc.abstractmethod
    async def ensure_default_organization(self, org: Organization) -> Organization:
        """The default organization, created from ``org`` when there is none."""

    @abc.abstractmethod
    async def get_organization(self, org_id: str) -> Organization | None: ...

    @abc.abstractmethod
    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None: ...

    @abc.abstractmethod
    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    @abc.abstractmethod
    async def list_api_keys(self, org_id: str) -> list[ApiKey]: ...

    @abc.abstractmethod
    async def api_keys_by_prefix(self, prefix: str, hash_scheme: str) -> list[tuple[ApiKey, str]]:
        """Keys shown as ``prefix`` whose stored hash starts with ``hash_scheme``, each with
        that hash (operator-chosen keys are found this way and verified by the caller)."""

    @abc.abstractmethod
    async def reinstate_api_key(self, key_id: str, *, key_hash: str, prefix: str) -> None:
        """Store a key's hash and prefix anew, and lift its revocation if any."""

    @abc.abstractmethod
    async def revoke_api_key(
        self, org_id: str, key_id: str, now_ms: int, *, keep_an_admin: bool = False
    ) -> bool:
        """Revoke a key at once; False if there is no such active key. With ``keep_an_admin``,
        raise ``Conflict`` rather than revoke the organization's last active admin key."""

    @abc.abstractmethod
    async def count_active_admin_keys(self, org_id: str) -> int: ...

    # owners ----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_identity(self, identity: Identity) -> None:
        """Raise ``Conflict`` when the handle is taken."""

    @abc.abstractmethod
    async def identity_by_handle(self, org_id: str, handle: str) -> Identity | None: ...

    @abc.abstractmethod
    async def identity_by_id(self, org_id: str, identity_id: str) -> Identity | None: ...

    @abc.abstractmethod
    async def list_identities(self, org_id: str, limit: int, offset: int) -> list[Identity]: ...

    @abc.abstractmethod
    async def delete_identity(self, org_id: str, identity_id: str) -> None:
        """Raise ``Conflict`` while channels, subscriptions or keys still refer to it."""

    @abc.abstractmethod
    async def insert_mailbox(self, mailbox: Mailbox) -> None: ...

    @abc.abstractmethod
    async def mailbox_by_address(self, org_id: str, address: str) -> Mailbox | None: ...

    @abc.abstractmethod
    async def mailbox_by_id(self, org_id: str, mailbox_id: str) -> Mailbox | None: ...

    @abc.abstractmethod
    async def list_mailboxes(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[Mailbox]: ...

    @abc.abstractmethod
    async def update_mailbox(
        self, org_id: str, mailbox_id: str, changes: Mapping[str, Any]
    ) -> None:
        """Change the mailbox's columns; a new ``agent_identity_id`` becomes the owner of its
        subscriptions too (``owner_identity_id``), in the same transaction."""

    @abc.abstractmethod
    async def insert_phone_number(self, number: PhoneNumber) -> None: ...

    @abc.abstractmethod
    async def phone_number_by_id(self, org_id: str, number_id: str) -> PhoneNumber | None: ...

    @abc.abstractmethod
    async def phone_number_by_number(self, org_id: str, number: str) -> PhoneNumber | None: ...

    @abc.abstractmethod
    async def list_phone_numbers(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[PhoneNumber]: ...

    @abc.abstractmethod
    async def update_phone_number(
        self, org_id: str, number_id: str, changes: Mapping[str, Any]
    ) -> None:
        """As ``update_mailbox``, for a phone number."""

    # signing keys ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def current_signing_key(self, org_id: str, identity_id: str | None) -> StoredKey | None:
        """The owner's current key."""

    @abc.abstractmethod
    async def put_signing_key(
        self,
        org_id: str,
        identity_id: str | None,
        key_enc: str,
        now_ms: int,
        *,
        only_if_missing: bool,
        key_id: str | None = None,
    ) -> bool:
        """Store a new current key (retiring the old) as row ``key_id`` (a new id when None:
        the caller seals the key for its row, so it usually chooses). With
        ``only_if_missing``, store it only when the owner has none, and say whether it was
        stored."""

    # sealed secrets at large (the master key's check value; rotation) --------------------
    @abc.abstractmethod
    async def secret_check(self) -> str | None:
        """The sealed check value (row ``id`` ``master``), if one was stored."""

    @abc.abstractmethod
    async def put_secret_check(self, check_enc: str, now_ms: int) -> bool:
        """Store the check value unless one exists; say whether this call stored it."""

    @abc.abstractmethod
    async def any_sealed(self) -> SealedRow | None:
        """One row holding a sealed secret (a subscription's or a signing key), if any."""

    @abc.abstractmethod
    async def sealed_rows(self, table: str, after_id: str | None, limit: int) -> list[SealedRow]:
        """Rows of ``table`` (a ``SEALED_COLUMNS`` key) in id order after ``after_id``,
        deleted and retired ones too."""

    @abc.abstractmethod
    async def reseal(
        self,
        table: str,
        row_id: str,
        old: Mapping[str, str | None],
        new: Mapping[str, str | None],
    ) -> bool:
        """Write ``new`` into the row's columns if they still hold ``old`` (a change made
        meanwhile wins); say whether it was written. ``subscriptions`` also accepts
        ``headers`` (the JSON object of names with masked values)."""

    @abc.abstractmethod
    async def plain_headers(self, limit: int) -> list[tuple[str, str]]:
        """``(subscription id, headers JSON)`` of subscriptions whose header values are
        still stored plain (written by an earlier version)."""
