"""The attempt log's pure parts: headers as stored (secrets masked) and keyset cursors."""

from __future__ import annotations

import json

import pytest

from hookline.core import attempt_headers, cursor
from hookline.core.errors import ValidationFailed


def test_sent_headers_mask_the_token_and_custom_values() -> None:
    headers = {
        "Content-Type": "application/json",
        "x-tenant": "acme-secret",
        "Authorization": "Bearer tok",
        "webhook-signature": "v1,abc",
    }
    stored = json.loads(attempt_headers.sent_headers(headers, ["X-Tenant"]))
    assert stored == {
        "Content-Type": "application/json",
        "x-tenant": attempt_headers.MASK,
        "Authorization": attempt_headers.MASK,
        "webhook-signature": "v1,abc",
    }
    plain = {"Content-Type": "application/json", "webhook-id": "evt_1"}
    assert json.loads(attempt_headers.sent_headers(plain, ())) == plain
    assert " " not in attempt_headers.sent_headers(plain, ())  # compact


def test_received_headers_join_repeats_and_parse_back() -> None:
    text = attempt_headers.received_headers(
        [(b"Set-Cookie", b"a=1"), (b"Server", b"x"), (b"Set-Cookie", b"b=2"), (b"X-L", b"\xe9")]
    )
    assert attempt_headers.parse(text) == {"Set-Cookie": "a=1, b=2", "Server": "x", "X-L": "é"}
    assert attempt_headers.parse(None) is None
    assert attempt_headers.parse("[1, 2]") is None


@pytest.mark.parametrize("row_id", ["0193b9a0-0000-7000-8000-000000000001", "a:b", "ü"])
def test_cursor_round_trips(row_id: str) -> None:
    token = cursor.encode(1_767_225_600_123, row_id)
    assert token.isascii() and "=" not in token
    assert cursor.decode(token) == (1_767_225_600_123, row_id)


@pytest.mark.parametrize("token", ["", "!!!", "bm9jb2xvbg", "MTIz", "LTE6YQ", "YWJjOmQ", "w6k"])
def test_foreign_cursors_are_refused_naming_the_field(token: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cursor.decode(token, field="cursor")
    assert refused.value.field == "cursor"
