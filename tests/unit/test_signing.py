"""Every profile's signatures against tests/vectors and each product's own verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hookline.core import signing
from hookline.core.profiles import AttemptIdentity, sign_headers

SCHEMES = ("standard", "inkbox", "inbox", "inboxroad")


#: the shared signature vectors, copied byte for byte into the repository
VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "signatures.json"

VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]


def _body(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["body_base64"], validate=True)


def _vector_id(index: int, vector: dict[str, Any]) -> str:
    body = _body(vector)
    shape = "empty" if not body else "non-ascii" if any(b > 127 for b in body) else "ascii"
    return f"{index:02d}-{vector['scheme']}-{shape}-body"


def _of(*schemes: str) -> list[Any]:
    return [
        pytest.param(v, id=_vector_id(i, v))
        for i, v in enumerate(VECTORS)
        if v["scheme"] in schemes
    ]


ALL = _of(*SCHEMES)


# Verifiers written the way each product documents them, independent of hookline.core.


def verify_hmac(raw_body: bytes, signature_header: str, secret: str) -> bool:
    """Inboxroad's documented Python verifier, verbatim."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    try:
        provided = base64.b64decode(signature_header or "", validate=True)
    except Exception:
        return False
    return hmac.compare_digest(expected, provided)


def verify_inkbox(raw_body: bytes, headers: dict[str, str], signing_key: str) -> bool:
    """Inkbox's documented steps (without the clock): HMAC-SHA256 keyed with the key string
    minus ``whsec_`` over ``{request_id}.{timestamp}.{raw_body}``, hex, after ``sha256=``."""
    request_id = headers["X-Inkbox-Request-ID"]
    timestamp = headers["X-Inkbox-Timestamp"]
    message = f"{request_id}.{timestamp}.{raw_body.decode('utf-8')}".encode()
    key = signing_key.removeprefix("whsec_").encode("utf-8")
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    scheme, sep, provided = headers["X-Inkbox-Signature"].partition("=")
    return scheme == "sha256" and sep == "=" and hmac.compare_digest(expected, provided)


def verify_inbox(raw_body: bytes, header: str, secret: str) -> bool:
    """Inbox's verifySignature: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def _core_signature(vector: dict[str, Any]) -> dict[str, str]:
    """The vector's headers computed with the hookline.core.signing functions directly."""
    body, secret, scheme = _body(vector), vector["secret"], vector["scheme"]
    if scheme == "standard":
        msg_id, ts = vector["webhook_id"], vector["timestamp"]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": signing.sign_standard([secret], msg_id, ts, body),
        }
    if scheme == "inkbox":
        rid, ts = vector["request_id"], vector["timestamp"]
        return {
            "X-Inkbox-Request-ID": rid,
            "X-Inkbox-Timestamp": ts,
            "X-Inkbox-Signature": signing.sign_inkbox(secret, rid, ts, body),
        }
    if scheme == "inbox":
        return {"X-Inbox-Signature": signing.sign_inbox(secret, body)}
    return {"X-Signature": signing.sign_inboxroad(secret, body)}


def _profile_headers(vector: dict[str, Any], *, timestamp_s: int | None = None) -> dict[str, str]:
    """The vector's headers computed through ``profiles.sign_headers``."""
    scheme = vector["scheme"]
    ts = timestamp_s if timestamp_s is not None else int(vector.get("timestamp", "1700000000"))
    return sign_headers(
        scheme,
        body=_body(vector),
        event_id=vector.get("webhook_id", "evt_not_part_of_this_signature"),
        secrets=[vector["secret"]],
        attempt=AttemptIdentity(
            timestamp_s=ts, request_id=vector.get("request_id", "req_not_part_of_this_signature")
        ),
    )


def test_vectors_cover_every_scheme_and_body_shape() -> None:
    assert {v["scheme"] for v in VECTORS} == set(SCHEMES)
    for scheme in SCHEMES:
        bodies = [_body(v) for v in VECTORS if v["scheme"] == scheme]
        assert b"" in bodies, f"{scheme} has no empty-body vector"
        assert any(any(b > 127 for b in body) for body in bodies), f"{scheme}: no UTF-8 body"


@pytest.mark.parametrize("vector", ALL)
def test_core_signing_functions_match_vector(vector: dict[str, Any]) -> None:
    assert _core_signature(vector) == vector["headers"]


@pytest.mark.parametrize("vector", ALL)
def test_sign_headers_matches_vector_exactly(vector: dict[str, Any]) -> None:
    assert _profile_headers(vector) == vector["headers"]


@pytest.mark.parametrize("vector", ALL)
def test_signature_covers_every_body_byte(vector: dict[str, Any]) -> None:
    tampered = dict(vector, body_base64=base64.b64encode(_body(vector) + b" ").decode())
    assert _profile_headers(tampered) != vector["headers"]


@pytest.mark.parametrize("vector", ALL)
def test_signature_depends_on_the_secret(vector: dict[str, Any]) -> None:
    secret = vector["secret"]
    other = secret[:-2] + ("AA" if secret[-2:] != "AA" else "BB")
    assert _profile_headers(dict(vector, secret=other)) != vector["headers"]


@pytest.mark.parametrize("vector", _of("standard"))
def test_standard_vector_matches_standardwebhooks_library(vector: dict[str, Any]) -> None:
    body = _body(vector)
    when = datetime.fromtimestamp(int(vector["timestamp"]), tz=UTC)
    expected = Webhook(vector["secret"]).sign(vector["webhook_id"], when, body.decode("utf-8"))
    assert vector["headers"]["webhook-signature"] == expected


@pytest.mark.parametrize("vector", _of("standard"))
def test_standard_sign_headers_verified_by_standardwebhooks(vector: dict[str, Any]) -> None:
    # The library rejects timestamps more than 5 minutes away from its own clock.
    now_s = int(time.time())
    headers = _profile_headers(vector, timestamp_s=now_s)
    assert headers["webhook-timestamp"] == str(now_s)
    assert headers["webhook-id"] == vector["webhook_id"]
    body = _body(vector)
    assert Webhook(vector["secret"]).verify(body, headers, json_parse=False) is None
    with pytest.raises(WebhookVerificationError):
        Webhook(vector["secret"]).verify(body + b"x", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"k" * 24).decode()).verify(
            body, headers, json_parse=False
        )


@pytest.mark.parametrize("vector", _of("standard"))
def test_verify_standard_on_vectors(vector: dict[str, Any]) -> None:
    body, secret = _body(vector), vector["secret"]
    msg_id, ts = vector["webhook_id"], vector["timestamp"]
    header = vector["headers"]["webhook-signature"]
    assert signing.verify_standard(secret, msg_id, ts, body, header)
    assert signing.verify_standard(secret, msg_id, ts, body, "v1,bm90IGl0 " + header)
    assert not signing.verify_standard(secret, msg_id, ts, body + b"x", header)
    assert not signing.verify_standard(secret, msg_id + "x", ts, body, header)
    assert not signing.verify_standard(secret, msg_id, str(int(ts) + 1), body, header)
    assert not signing.verify_standard(secret, msg_id, ts, body, "v1,bm90IGl0")
    assert not signing.verify_standard(secret, msg_id, ts, body, "")


@pytest.mark.parametrize("vector", _of("inkbox"))
def test_inkbox_vector_passes_documented_verification(vector: dict[str, Any]) -> None:
    body = _body(vector)
    headers = _profile_headers(vector)
    assert verify_inkbox(body, headers, vector["secret"])
    assert verify_inkbox(body, vector["headers"], vector["secret"])
    assert not verify_inkbox(body + b"x", headers, vector["secret"])
    forged = dict(headers, **{"X-Inkbox-Request-ID": "req_other"})
    assert not verify_inkbox(body, forged, vector["secret"])


def test_inkbox_key_is_the_string_without_whsec_prefix() -> None:
    [vector] = [v for v in VECTORS if v["scheme"] == "inkbox" and v["secret"].startswith("whsec_")]
    body, rid, ts = _body(vector), vector["request_id"], vector["timestamp"]
    expected = vector["headers"]["X-Inkbox-Signature"]
    # Not the whole string, and not base64-decoded like a Standard Webhooks secret.
    message = f"{rid}.{ts}.".encode() + body
    with_prefix = hmac.new(vector["secret"].encode(), message, hashlib.sha256).hexdigest()
    assert expected != "sha256=" + with_prefix
    assert signing.inkbox_key_bytes(vector["secret"]) == vector["secret"][6:].encode()
    assert signing.inkbox_key_bytes("sk_plain") == b"sk_plain"


@pytest.mark.parametrize("vector", _of("inbox"))
def test_inbox_vector_passes_documented_verification(vector: dict[str, Any]) -> None:
    body, secret = _body(vector), vector["secret"]
    header = _profile_headers(vector)["X-Inbox-Signature"]
    assert verify_inbox(body, header, secret)
    assert not verify_inbox(body + b"x", header, secret)


@pytest.mark.parametrize("vector", _of("inboxroad"))
def test_inboxroad_vector_passes_documented_verifier(vector: dict[str, Any]) -> None:
    body, secret = _body(vector), vector["secret"]
    header = _profile_headers(vector)["X-Signature"]
    assert verify_hmac(body, header, secret)
    assert not verify_hmac(body + b"x", header, secret)
    assert not verify_hmac(body, header, secret + "x")


@pytest.mark.parametrize("vector", _of("inbox", "inboxroad"))
def test_body_only_schemes_ignore_attempt_identity(vector: dict[str, Any]) -> None:
    first = _profile_headers(vector, timestamp_s=1)
    later = sign_headers(
        vector["scheme"],
        body=_body(vector),
        event_id="evt_other",
        secrets=[vector["secret"]],
        attempt=AttemptIdentity(timestamp_s=2_000_000_000, request_id="req_other"),
    )
    assert first == later == vector["headers"]


def test_standard_key_bytes_decodes_base64_after_prefix() -> None:
    assert signing.standard_key_bytes("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX") == bytes(range(24))
    assert signing.standard_key_bytes("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX") == bytes(range(24))


def test_sign_standard_signs_with_every_secret_in_order() -> None:
    old = "whsec_" + base64.b64encode(b"o" * 32).decode()
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    both = signing.sign_standard([new, old], "msg_1", "1767225600", b"{}")
    parts = both.split(" ")
    assert parts == [
        signing.sign_standard([new], "msg_1", "1767225600", b"{}"),
        signing.sign_standard([old], "msg_1", "1767225600", b"{}"),
    ]
    assert parts[0] != parts[1]
    assert all(p.startswith("v1,") and len(base64.b64decode(p[3:])) == 32 for p in parts)
    for secret in (old, new):
        assert signing.verify_standard(secret, "msg_1", "1767225600", b"{}", both)
    stranger = "whsec_" + base64.b64encode(b"s" * 32).decode()
    assert not signing.verify_standard(stranger, "msg_1", "1767225600", b"{}", both)
