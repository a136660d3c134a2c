"""Body shapes and headers of the four wire profiles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from hookline.core import profiles, signing
from hookline.core.profiles import AttemptIdentity
from hookline.services import wire

EVENT_ID = "evt_1234567890"
OCCURRED_MS = 1_736_936_703_000  # 2025-01-15T10:25:03Z
DATA = {"message_id": "msg_1234567890", "to": "+15551234567"}
STANDARD_OLD = "whsec_" + base64.b64encode(bytes(range(24))).decode()
STANDARD_NEW = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
PLAIN_SECRET = "b4c1e0f9a8d7c6b5a4f3e2d1"
ATTEMPT = AttemptIdentity(timestamp_s=1_767_225_600, request_id="req_0000_a1b2c3")
OWN_HEADERS = {
    "standard": {"webhook-id", "webhook-timestamp", "webhook-signature"},
    "inkbox": {"X-Inkbox-Request-ID", "X-Inkbox-Timestamp", "X-Inkbox-Signature"},
    "inbox": {"X-Inbox-Signature"},
    "inboxroad": {"X-Signature"},
}


def render(profile: str, event_type: str = "message.delivered", **kw: Any) -> bytes:
    return wire.render_body(
        profile,
        event_id=kw.get("event_id", EVENT_ID),
        event_type=event_type,
        occurred_at_ms=kw.get("occurred_at_ms", OCCURRED_MS),
        data=kw.get("data", DATA),
    )


def secret_for(profile: str) -> str:
    return STANDARD_OLD if profile == "standard" else PLAIN_SECRET


def build(profile: str, **kw: Any) -> profiles.OutgoingRequest:
    return profiles.build_request(
        profile,
        body=render(profile, kw.get("event_type", "message.bounced"), data=kw.get("data", DATA)),
        event_id=EVENT_ID,
        secrets=kw.get("secrets", [secret_for(profile)]),
        attempt=kw.get("attempt", ATTEMPT),
        custom_headers=kw.get("custom_headers", {}),
        user_agent="Hookline/0.1.0",
        auth_token=kw.get("auth_token"),
    )


def test_profiles_constant_names_all_four() -> None:
    assert profiles.PROFILES == ("standard", "inkbox", "inbox", "inboxroad")
    assert {"standard", "inbox", "inboxroad"} == profiles.PER_SUBSCRIPTION_SECRET


def test_standard_body_shape() -> None:
    assert render("standard") == (
        b'{"id":"evt_1234567890","type":"message.delivered","timestamp":"2025-01-15T10:25:03Z",'
        b'"data":{"message_id":"msg_1234567890","to":"+15551234567"}}'
    )


def test_inkbox_body_shape() -> None:
    assert render("inkbox") == (
        b'{"id":"evt_1234567890","event_type":"message.delivered",'
        b'"timestamp":"2025-01-15T10:25:03Z",'
        b'"data":{"message_id":"msg_1234567890","to":"+15551234567"}}'
    )


def test_inbox_body_shape_is_the_vector_body() -> None:
    # The same bytes as the first inbox vector in tests/vectors/signatures.json.
    vector_body = base64.b64decode(
        "eyJpZCI6ImV2dF8xMjM0NTY3ODkwIiwidHlwZSI6Im1lc3NhZ2UuZGVsaXZlcmVkIiwiY3JlYXRlZF9hdCI6IjIw"
        "MjUtMDEtMTVUMTA6MjU6MDNaIiwiZGF0YSI6eyJtZXNzYWdlX2lkIjoibXNnXzEyMzQ1Njc4OTAiLCJ0byI6IisxN"
        "TU1MTIzNDU2NyJ9fQ=="
    )
    assert render("inbox") == vector_body
    assert render("inbox") == (
        b'{"id":"evt_1234567890","type":"message.delivered","created_at":"2025-01-15T10:25:03Z",'
        b'"data":{"message_id":"msg_1234567890","to":"+15551234567"}}'
    )


def test_inboxroad_body_is_flat_with_kind_first_and_event_id_as_message_id() -> None:
    data = {"recipient": "usér@example.com", "dsn_status": "4.4.7 (delivery time expired)"}
    assert (
        render("inboxroad", "message.bounced", data=data)
        == (
            '{"kind":"bounce","recipient":"usér@example.com",'
            '"dsn_status":"4.4.7 (delivery time expired)",'
            '"timestamp":"2025-01-15T10:25:03Z","message_id":"evt_1234567890"}'
        ).encode()
    )


def test_inboxroad_body_follows_the_design_literal() -> None:
    data = {"sender": "a@example.com", "message_id": "<m1@example.com>", "campaign": {"id": "c1"}}
    body = render("inboxroad", "message.opened", data=data)
    ts = "2025-01-15T10:25:03Z"
    design = {"kind": "open", **data, "timestamp": ts, "message_id": data["message_id"]}
    assert body == json.dumps(design, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(body)["message_id"] == "<m1@example.com>"
    assert list(json.loads(body)) == ["kind", "sender", "message_id", "campaign", "timestamp"]


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("message.delivered", "delivered"),
        ("message.opened", "open"),
        ("message.clicked", "click"),
        ("message.bounced", "bounce"),
        ("subscription.changed", "subscription_changed"),
    ],
)
def test_inboxroad_kind_mapping(event_type: str, kind: str) -> None:
    assert profiles.inboxroad_kind(event_type) == kind
    assert json.loads(render("inboxroad", event_type))["kind"] == kind


def test_inboxroad_kind_of_an_operator_type_is_the_type() -> None:
    assert profiles.inboxroad_kind("custom.thing_happened") == "custom.thing_happened"


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_bodies_are_compact_utf8_and_keep_non_ascii(profile: str) -> None:
    data = {"subject": "Grüße — 日本語 ✓", "nested": {"a": [1, 2]}}
    body = render(profile, data=data)
    assert "Grüße — 日本語 ✓".encode() in body
    assert b"\\u" not in body
    assert b", " not in body and b": " not in body
    assert b'"nested":{"a":[1,2]}' in body
    assert body == render(profile, data=data), "rendering must be deterministic"


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_timestamp_keeps_milliseconds(profile: str) -> None:
    body = json.loads(render(profile, occurred_at_ms=OCCURRED_MS + 7))
    key = "created_at" if profile == "inbox" else "timestamp"
    assert body[key] == "2025-01-15T10:25:03.007Z"


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="svix"):
        render("svix")
    with pytest.raises(ValueError, match="svix"):
        profiles.sign_headers(
            "svix", body=b"{}", event_id=EVENT_ID, secrets=[PLAIN_SECRET], attempt=ATTEMPT
        )


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_sign_headers_needs_a_secret(profile: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        profiles.sign_headers(profile, body=b"{}", event_id=EVENT_ID, secrets=[], attempt=ATTEMPT)


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_sign_headers_names_exactly_the_profile_headers(profile: str) -> None:
    headers = profiles.sign_headers(
        profile, body=b"{}", event_id=EVENT_ID, secrets=[secret_for(profile)], attempt=ATTEMPT
    )
    assert set(headers) == OWN_HEADERS[profile]


def test_standard_grace_period_signs_with_both_secrets() -> None:
    body = render("standard")
    now_s = int(time.time())
    headers = profiles.sign_headers(
        "standard",
        body=body,
        event_id=EVENT_ID,
        secrets=[STANDARD_NEW, STANDARD_OLD],
        attempt=AttemptIdentity(timestamp_s=now_s, request_id="req_x"),
    )
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2
    assert all(p.startswith("v1,") for p in parts)
    assert parts[0] != parts[1]
    for secret in (STANDARD_NEW, STANDARD_OLD):
        assert Webhook(secret).verify(body, headers) == json.loads(body)
        assert signing.verify_standard(
            secret, EVENT_ID, str(now_s), body, headers["webhook-signature"]
        )


def test_standard_webhook_id_is_the_event_id_on_every_attempt() -> None:
    first = build("standard")
    retry = build("standard", attempt=AttemptIdentity(timestamp_s=1_767_229_200, request_id="r2"))
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == EVENT_ID
    assert first.headers["webhook-timestamp"] == "1767225600"
    assert retry.headers["webhook-timestamp"] == "1767229200"
    assert first.body == retry.body
    assert first.headers["webhook-signature"] != retry.headers["webhook-signature"]


def test_inkbox_uses_request_id_per_attempt_and_the_current_key() -> None:
    current, previous = "whsec_current_key", "whsec_previous_key"
    a1 = build("inkbox", secrets=[current, previous])
    a2 = build(
        "inkbox",
        secrets=[current, previous],
        attempt=AttemptIdentity(timestamp_s=ATTEMPT.timestamp_s, request_id="req_second"),
    )
    assert a1.headers["X-Inkbox-Request-ID"] == "req_0000_a1b2c3"
    assert a2.headers["X-Inkbox-Request-ID"] == "req_second"
    assert a1.headers["X-Inkbox-Signature"] != a2.headers["X-Inkbox-Signature"]
    message = f"req_0000_a1b2c3.{ATTEMPT.timestamp_s}.".encode() + a1.body
    expected = hmac.new(b"current_key", message, hashlib.sha256).hexdigest()
    assert a1.headers["X-Inkbox-Signature"] == "sha256=" + expected


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_build_request_signs_the_exact_body_sent(profile: str) -> None:
    req = build(profile, event_type="message.bounced")
    assert req.body == render(profile, "message.bounced")
    expected = profiles.sign_headers(
        profile, body=req.body, event_id=EVENT_ID, secrets=[secret_for(profile)], attempt=ATTEMPT
    )
    for name, value in expected.items():
        assert req.headers[name] == value


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_build_request_common_headers(profile: str) -> None:
    req = build(profile, custom_headers={"X-Tenant": "acme"})
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == "Hookline/0.1.0"
    assert req.headers["X-Tenant"] == "acme"
    assert "Authorization" not in req.headers
    assert set(req.headers) == {"Content-Type", "User-Agent", "X-Tenant"} | OWN_HEADERS[profile]


@pytest.mark.parametrize("token", [None, ""])
def test_no_authorization_without_a_token(token: str | None) -> None:
    req = build("standard", auth_token=token)
    assert not any(k.lower() == "authorization" for k in req.headers)


def test_authorization_bearer_when_auth_token_set() -> None:
    req = build("inbox", auth_token="tok_s3cret")
    assert req.headers["Authorization"] == "Bearer tok_s3cret"


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_custom_headers_cannot_override_hooklines_own(profile: str) -> None:
    forged = dict.fromkeys(OWN_HEADERS[profile], "forged")
    forged |= {name.lower(): "forged-lower" for name in OWN_HEADERS[profile]}
    forged |= {
        "Content-Type": "text/plain",
        "content-type": "text/xml",
        "USER-AGENT": "evil/1.0",
        "authorization": "Basic Zm9vOmJhcg==",
        "X-Kept": "yes",
    }
    req = build(profile, custom_headers=forged, auth_token="tok_1")
    lowered: dict[str, list[str]] = {}
    for name, value in req.headers.items():
        lowered.setdefault(name.lower(), []).append(value)
    assert all(len(v) == 1 for v in lowered.values()), f"a header is sent twice: {lowered}"
    assert lowered["content-type"] == ["application/json"]
    assert lowered["user-agent"] == ["Hookline/0.1.0"]
    assert lowered["authorization"] == ["Bearer tok_1"]
    assert lowered["x-kept"] == ["yes"]
    plain = build(profile)
    for name in OWN_HEADERS[profile]:
        assert req.headers[name] == plain.headers[name]


@pytest.mark.parametrize("profile", ["standard", "inkbox", "inbox"])
def test_the_body_carries_the_data_as_the_publish_stores_it(profile: str) -> None:
    from hookline.services.publishing import _encode_data

    data = {"n": 1.5e-7, "big": 10**30, "text": 'é😀\u2028\x00"\\', "nested": {"a": [1, None]}}
    body = render(profile, data=data)
    stored = _encode_data(data)
    assert stored is not None
    assert body.endswith(b',"data":' + stored + b"}")
    assert json.loads(body)["data"] == data


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_only_the_profiles_that_say_so_send_the_request_id(profile: str) -> None:
    one = build(profile, attempt=AttemptIdentity(timestamp_s=1_767_225_600, request_id="req_a"))
    other = build(profile, attempt=AttemptIdentity(timestamp_s=1_767_225_600, request_id="req_b"))
    # the dispatcher makes a request id only for these profiles, and leaves it empty otherwise
    assert (one.headers != other.headers) == (profile in profiles.REQUEST_ID_SENT)
