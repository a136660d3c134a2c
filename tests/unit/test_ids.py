"""Identifiers and secrets, with randomness passed in."""

from __future__ import annotations

import base64
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from hookline.core import ids
from hookline.core.signing import standard_key_bytes


class FixedBytes:
    """A ``token_bytes`` that returns 0, 1, 2, ... and records what it was asked for."""

    def __init__(self) -> None:
        self.requested: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.requested.append(n)
        return bytes(range(n))


def test_event_org_and_request_ids_are_prefixed_hex() -> None:
    assert ids.new_event_id(FixedBytes()) == "evt_000102030405060708090a0b"
    assert ids.new_org_id(FixedBytes()) == "org_0001020304050607"
    assert ids.new_request_id(FixedBytes()) == "req_000102030405060708090a0b"


def test_uuid_is_version_4_from_16_bytes() -> None:
    tb = FixedBytes()
    value = ids.new_uuid(tb)
    assert tb.requested == [16]
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert value == "00010203-0405-4607-8809-0a0b0c0d0e0f"


def test_standard_secret_is_whsec_base64_of_the_key_bytes() -> None:
    tb = FixedBytes()
    secret = ids.new_standard_secret(tb)
    assert tb.requested == [ids.SECRET_BYTES]
    assert 24 <= ids.SECRET_BYTES <= 64
    assert secret.startswith("whsec_")
    assert standard_key_bytes(secret) == bytes(range(ids.SECRET_BYTES))
    Webhook(secret)  # the reference library accepts it


def test_plain_secret_is_url_safe_and_unpadded() -> None:
    secret = ids.new_plain_secret("inbox_", lambda n: b"\xff" * n)
    assert secret.startswith("inbox_")
    body = secret.removeprefix("inbox_")
    assert "=" not in body and "+" not in body and "/" not in body
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) == b"\xff" * ids.SECRET_BYTES


def test_api_key_prefix_and_entropy() -> None:
    tb = FixedBytes()
    key = ids.new_api_key(tb)
    assert tb.requested == [30]
    assert key == "hl_" + base64.urlsafe_b64encode(bytes(range(30))).decode()


def test_defaults_are_random() -> None:
    assert ids.new_event_id() != ids.new_event_id()
    assert ids.new_uuid() != ids.new_uuid()
    assert ids.new_standard_secret() != ids.new_standard_secret()


def test_pooled_identifiers_are_unique_across_refills() -> None:
    # 3 x 4 KiB of pool: every refill boundary is crossed, mid-identifier too
    made = [ids.new_uuid() for _ in range(800)] + [ids.new_request_id() for _ in range(800)]
    assert len(set(made)) == len(made)
    assert all(len(u) == 36 and u[14] == "4" for u in made[:800])


def test_time_uuid_is_version_7_with_the_millisecond_first() -> None:
    tb = FixedBytes()
    value = ids.new_time_uuid(0x0123456789AB, tb)
    assert tb.requested == [10]
    parsed = uuid.UUID(value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert value == "01234567-89ab-7001-8203-040506070809"
    assert int(value[:8] + value[9:13], 16) == 0x0123456789AB


def test_time_uuids_sort_by_time_as_text() -> None:
    made = [ids.new_time_uuid(ms) for ms in (1, 255, 256, 1_700_000_000_000, 1_700_000_000_001)]
    assert made == sorted(made)
    assert ids.new_time_uuid(5) != ids.new_time_uuid(5)


@pytest.mark.parametrize("bad", [-1, 1 << 48])
def test_time_uuid_refuses_a_time_outside_48_bits(bad: int) -> None:
    with pytest.raises(ValueError, match="48 bits"):
        ids.new_time_uuid(bad)


def test_time_uuids_in_one_draw_match_the_rfc_layout_for_every_byte() -> None:
    # each possible value of the byte that carries the variant, and random bytes around it
    draws = bytes(b for n in range(256) for b in (0xA5, 0x5A, n, 0xFF, 0, 1, 2, 3, 4, 0xEE))
    requested: list[int] = []

    def tb(n: int) -> bytes:
        requested.append(n)
        return draws[:n]

    ms = 1_796_303_058_045
    made = ids.new_time_uuids(ms, 256, tb)
    assert requested == [2560]
    for n, value in enumerate(made):
        raw = bytearray(ms.to_bytes(6, "big") + draws[10 * n : 10 * n + 10])
        raw[6] = (raw[6] & 0x0F) | 0x70
        raw[8] = (raw[8] & 0x3F) | 0x80
        assert value == str(uuid.UUID(bytes=bytes(raw)))
        assert uuid.UUID(value).version == 7
        assert uuid.UUID(value).variant == uuid.RFC_4122
    assert len(set(ids.new_time_uuids(ms, 1000))) == 1000
    assert ids.new_time_uuids(ms, 0) == []
