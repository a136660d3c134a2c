"""The master key: which keys a process holds, the check that they open the database's
secrets (at every start), and rotation to a new key (``hookline rotate-secret-key``).

The check value is a constant sealed with the master key at first start and opened at every
start: a process given the wrong key (a database copied without its key file, a mistyped
``HOOKLINE_SECRET_KEY``) refuses to start instead of failing every secret read and delivery.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hookline.config import Settings
from hookline.core import validation
from hookline.core.frozen import frozen
from hookline.services.sealed_places import SECRET_CHECKS, SUBSCRIPTIONS, seal_headers
from hookline.services.secretbox import (
    SecretBox,
    SecretUnreadable,
    key_file_for,
    key_id,
    load_or_create_key_file,
    place,
)
from hookline.storage.base import Storage
from hookline.storage.records import SEALED_COLUMNS, SealedRow

CHECK_PLACE = place(SECRET_CHECKS, "check_enc", "master")
_CHECK_PLAINTEXT = "hookline master key check"
#: rows read and rewritten per round trip of a rotation
ROTATION_BATCH = 200
#: passes a rotation makes while other processes keep changing rows under it
_MAX_PASSES = 5


class WrongSecretKey(RuntimeError):
    """The master keys at hand do not open the database's secrets (one line, for people)."""


@frozen
class MasterKeys:
    current: str
    #: accepted for opening only (a rotation under way)
    previous: tuple[str, ...]
    #: the embedded database's key file, when the keys come from it
    key_file: Path | None = None
    #: whether the key file was created by this process just now
    created: bool = False

    def box(self) -> SecretBox:
        return SecretBox(self.current, self.previous)


def master_keys(settings: Settings) -> MasterKeys:
    """``HOOKLINE_SECRET_KEY`` (with ``HOOKLINE_PREVIOUS_SECRET_KEYS``), or the key file
    beside an embedded database: its first line seals, the others only open."""
    if settings.secret_key:
        return MasterKeys(current=settings.secret_key, previous=settings.previous_secret_keys)
    path = settings.sqlite_path
    if path is None:
        raise ValueError("HOOKLINE_SECRET_KEY is required unless the database is a SQLite file")
    path = key_file_for(path)
    keys, created = load_or_create_key_file(path)
    return MasterKeys(
        current=keys[0],
        previous=(*keys[1:], *settings.previous_secret_keys),
        key_file=path,
        created=created,
    )


async def verify(storage: Storage, box: SecretBox, keys: MasterKeys, now_ms: int) -> None:
    """Refuse (``WrongSecretKey``) unless ``box`` opens the database's secrets; store the
    check value at first start. Then seal any header values still stored plain."""
    for _ in range(2):
        check = await storage.secret_check()
        if check is not None:
            _must_open(box, keys, check, CHECK_PLACE)
            break
        # a database from before the check value: one stored secret tells the same
        probe = await storage.any_sealed()
        if probe is not None:
            column, ciphertext = next(iter(probe.values.items()))
            assert ciphertext is not None
            _must_open(box, keys, ciphertext, place(probe.table, column, probe.id))
        if await storage.put_secret_check(box.seal(_CHECK_PLAINTEXT, CHECK_PLACE), now_ms):
            break
        # another process stored one first: open that one
    await seal_plain_headers(storage, box)


def _must_open(box: SecretBox, keys: MasterKeys, ciphertext: str, where: str) -> None:
    try:
        box.open(ciphertext, where)
    except SecretUnreadable:
        raise WrongSecretKey(_wrong_key_message(keys, ciphertext)) from None


def _wrong_key_message(keys: MasterKeys, ciphertext: str) -> str:
    held = ", ".join(key_id(k) for k in (keys.current, *keys.previous))
    sealed = ciphertext.split(".")[1] if ciphertext.startswith("v3.") else "an unknown key"
    source = f"the key file {keys.key_file}" if keys.key_file else "HOOKLINE_SECRET_KEY"
    return (
        f"refusing to start: the master key from {source} (key id {held}) does not open the "
        f"secrets stored in this database (sealed with key id {sealed}); give the key they "
        "were sealed with (HOOKLINE_SECRET_KEY, or the database's own .key file)"
    )


async def seal_plain_headers(storage: Storage, box: SecretBox) -> int:
    """Seal the header values an earlier version stored plain; how many subscriptions."""
    done = 0
    while True:
        found = await storage.plain_headers(ROTATION_BATCH)
        before = done
        for sub_id, headers_json in found:
            values = json.loads(headers_json)
            written = await storage.reseal(
                SUBSCRIPTIONS,
                sub_id,
                {"headers_enc": None, "headers": headers_json},
                {
                    "headers_enc": seal_headers(box, values, sub_id),
                    "headers": json.dumps(validation.masked_headers(values)),
                },
            )
            done += written
            # not written: changed meanwhile, by a writer that seals them
        if done == before:
            return done


@frozen
class Rotated:
    #: secrets sealed anew with the current key
    rewritten: int
    #: header sets moved from plain to sealed
    headers_sealed: int


async def rotate(
    storage: Storage, box: SecretBox, *, progress: Callable[[str, int], None] | None = None
) -> Rotated:
    """Seal every stored secret with ``box``'s current key: those sealed with an older key
    or in an older format. Idempotent, so an interrupted rotation is simply run again. A row
    changed meanwhile keeps what its writer wrote (sealed with that writer's current key),
    and is looked at again in another pass."""
    rewritten = 0
    headers_sealed = await seal_plain_headers(storage, box)
    for _ in range(_MAX_PASSES):
        left = 0
        for table in SEALED_COLUMNS:
            after = None
            while True:
                found = await storage.sealed_rows(table, after, ROTATION_BATCH)
                if not found:
                    break
                for row in found:
                    changed = await _reseal_row(storage, box, row)
                    if changed is None:
                        left += 1
                    else:
                        rewritten += changed
                after = found[-1].id
                if progress is not None:
                    progress(table, len(found))
        if not left:
            break
    else:
        raise RuntimeError(
            "rows kept changing under the rotation: run it again once every process seals "
            "with the new key"
        )
    return Rotated(rewritten=rewritten, headers_sealed=headers_sealed)


async def _reseal_row(storage: Storage, box: SecretBox, row: SealedRow) -> int | None:
    """How many of the row's secrets were sealed anew; None if it changed meanwhile."""
    new: dict[str, str | None] = {}
    for column, ciphertext in row.values.items():
        if ciphertext is None or box.is_current(ciphertext):
            continue
        where = place(row.table, column, row.id)
        try:
            plain = box.open(ciphertext, where)
        except SecretUnreadable as exc:
            raise SecretUnreadable(
                f"{where} cannot be decrypted with any key given, and is left as it was "
                "(HOOKLINE_PREVIOUS_SECRET_KEYS must name the key that sealed it)"
            ) from exc
        new[column] = box.seal(plain, where)
    if not new:
        return 0
    old = {c: row.values[c] for c in new}
    if not await storage.reseal(row.table, row.id, old, new):
        return None
    return len(new)
