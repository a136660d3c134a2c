"""Field rules: each failure names its field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hookline.core import validation
from hookline.core.catalog import CATALOG
from hookline.core.errors import ValidationFailed

KNOWN = frozenset(CATALOG)


def field_of(fn: Callable[[], object]) -> str:
    with pytest.raises(ValidationFailed) as exc:
        fn()
    return exc.value.field


# --- url -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/hooks",
        "https://hooks.example.com:8443/a/b?x=1&y=2",
        "https://[2001:db8::1]/hook",
        "HTTPS://Example.com/",
    ],
)
def test_https_urls_accepted_unchanged(value: str) -> None:
    assert validation.url(value, allow_http=False) == value


def test_http_only_when_allowed() -> None:
    assert field_of(lambda: validation.url("http://example.com/", allow_http=False)) == "url"
    assert validation.url("http://example.com/", allow_http=True) == "http://example.com/"


@pytest.mark.parametrize(
    "value",
    [
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https://:pass@example.com/",
        "http://token@example.com/",
    ],
)
def test_credentials_in_url_rejected(value: str) -> None:
    with pytest.raises(ValidationFailed, match="credentials") as exc:
        validation.url(value, allow_http=True)
    assert exc.value.field == "url"


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.com/",
        "example.com/hooks",
        "//example.com/hooks",
        "https:///hooks",
        "https://",
        "https://example.com:99999/",
        "https://[::1/",
        "https://example.com/a b",
        "https://example.com/\n",
        "https://example.com/" + "a" * validation.MAX_URL_LEN,
        "javascript:alert(1)",
    ],
)
def test_bad_urls_rejected(value: str) -> None:
    assert field_of(lambda: validation.url(value, allow_http=True, field="webhook_url")) == (
        "webhook_url"
    )


# --- event types ---------------------------------------------------------------------------


def test_event_types_accepted_in_order() -> None:
    values = ["message.bounced", "text.received", "call.ended"]
    assert validation.event_types(values, known=KNOWN) == tuple(values)


def test_operator_types_accepted_when_known() -> None:
    assert validation.event_types(["billing.paid"], known={"billing.paid"}) == ("billing.paid",)


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        (["message.received", "message.received"], "event_types[1]", "repeated"),
        (["message.received", "text.sent", "message.received"], "event_types[2]", "repeated"),
        (["message.received", ""], "event_types[1]", "not in the event catalog"),
        (["message.recieved"], "event_types[0]", "not in the event catalog"),
        (["text.sent", "Message.Received"], "event_types[1]", "not in the event catalog"),
        (["text.sent", "phone.incoming_call"], "event_types[1]", "synchronously"),
        (["phone.incoming_call"], "event_types[0]", "synchronously"),
    ],
    ids=[
        "repeated",
        "repeated-later",
        "empty-string",
        "unknown",
        "wrong-case",
        "incoming-call",
        "incoming-call-only",
    ],
)
def test_bad_event_types_name_the_index(values: list[str], field: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as exc:
        validation.event_types(values, known=KNOWN)
    assert exc.value.field == field


def test_incoming_call_rejected_even_if_known() -> None:
    assert "phone.incoming_call" in KNOWN
    field = field_of(lambda: validation.event_types(["phone.incoming_call"], known=KNOWN))
    assert field == "event_types[0]"


def test_empty_event_types_rejected() -> None:
    assert field_of(lambda: validation.event_types([], known=KNOWN)) == "event_types"
    assert field_of(lambda: validation.event_types([], known=KNOWN, field="events")) == "events"


def test_event_types_field_prefix_is_configurable() -> None:
    field = field_of(lambda: validation.event_types(["a.b", "x.y"], known={"a.b"}, field="events"))
    assert field == "events[1]"


def test_too_many_event_types() -> None:
    many = [f"t.{i}" for i in range(validation.MAX_EVENT_TYPES + 1)]
    assert field_of(lambda: validation.event_types(many, known=set(many))) == "event_types"
    ok = many[: validation.MAX_EVENT_TYPES]
    assert len(validation.event_types(ok, known=set(ok))) == validation.MAX_EVENT_TYPES


# --- profile -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["standard", "inkbox", "inbox", "inboxroad"])
def test_known_profiles(value: str) -> None:
    assert validation.profile(value) == value


@pytest.mark.parametrize("value", ["", "Standard", "svix", "inbox-road"])
def test_unknown_profiles(value: str) -> None:
    assert field_of(lambda: validation.profile(value)) == "profile"


# --- headers -------------------------------------------------------------------------------


def test_custom_headers_accepted() -> None:
    values = {"X-Tenant": "acme", "X-Api-Key": "k_123", "Accept-Language": "fr"}
    assert validation.headers(values) == values
    assert validation.headers({}) == {}


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "content-length",
        "HOST",
        "User-Agent",
        "transfer-encoding",
        "Connection",
        "authorization",
        "Webhook-Id",
        "webhook-timestamp",
        "WEBHOOK-SIGNATURE",
        "x-inkbox-request-id",
        "X-Inkbox-Timestamp",
        "X-INKBOX-SIGNATURE",
        "x-inbox-signature",
        "X-Signature",
        "x-signature",
    ],
)
def test_reserved_headers_rejected_in_any_case(name: str) -> None:
    with pytest.raises(ValidationFailed, match="cannot be overridden") as exc:
        validation.headers({"X-Ok": "1", name: "x"})
    assert exc.value.field == f"headers.{name}"


@pytest.mark.parametrize("name", ["", "X Tenant", "X-Tenant:", "X-Tenant\n", "X-Ténant", "a" * 129])
def test_invalid_header_names(name: str) -> None:
    with pytest.raises(ValidationFailed, match="not a valid header name") as exc:
        validation.headers({name: "v"})
    assert exc.value.field == f"headers.{name}"


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nb", "a\0b", "x" * (validation.MAX_HEADER_VALUE_LEN + 1)]
)
def test_invalid_header_values(value: str) -> None:
    assert field_of(lambda: validation.headers({"X-Tenant": value})) == "headers.X-Tenant"


def test_header_repeated_in_another_case() -> None:
    assert field_of(lambda: validation.headers({"X-Tenant": "a", "x-tenant": "b"})) == (
        "headers.x-tenant"
    )


def test_too_many_headers() -> None:
    many = {f"X-H{i}": "v" for i in range(validation.MAX_HEADERS + 1)}
    assert field_of(lambda: validation.headers(many)) == "headers"


# --- domains -------------------------------------------------------------------------------


def test_domains_normalised_and_deduplicated() -> None:
    values = ["Example.COM", " mail.example.co.uk ", "example.com.", "xn--bcher-kva.example"]
    assert validation.domains(values) == (
        "example.com",
        "mail.example.co.uk",
        "xn--bcher-kva.example",
    )
    assert validation.domains([]) == ()


@pytest.mark.parametrize(
    "bad",
    [
        "localhost",
        "",
        "-bad.com",
        "bad-.com",
        "exa_mple.com",
        "a..com",
        "example.c",
        "1.2.3.4",
        "ex ample.com",
        "a" * 64 + ".com",
        "https://example.com",
    ],
)
def test_invalid_domain_named_by_index(bad: str) -> None:
    assert field_of(lambda: validation.domains(["example.com", bad])) == "filters.domains[1]"
    assert field_of(lambda: validation.domain(bad)) == "domain"


def test_single_domain_normalised() -> None:
    assert validation.domain("Sub.Example.COM.") == "sub.example.com"


def test_too_many_domains() -> None:
    many = [f"d{i}.example.com" for i in range(validation.MAX_DOMAINS + 1)]
    assert field_of(lambda: validation.domains(many)) == "filters.domains"


# --- e164, email, agent handle -------------------------------------------------------------


@pytest.mark.parametrize("value", ["+15551234567", "+4930123456", "+1234567", "+123456789012345"])
def test_e164_accepted(value: str) -> None:
    assert validation.e164(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "15551234567",
        "+05551234567",
        "+123456",
        "+1234567890123456",
        "+1 555 123 4567",
        "+1-555-123-4567",
        "+15551234567\n",
        "+١٥٥٥١٢٣٤٥٦٧",
        "",
    ],
)
def test_e164_rejected(value: str) -> None:
    assert field_of(lambda: validation.e164(value)) == "number"
    assert field_of(lambda: validation.e164(value, "phone_number")) == "phone_number"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("support@example.com", "support@example.com"),
        ("Ada.Lovelace+hooks@Example.COM", "ada.lovelace+hooks@example.com"),
        ("x@sub.example.co.uk", "x@sub.example.co.uk"),
    ],
)
def test_email_accepted_and_lowercased(value: str, expected: str) -> None:
    assert validation.email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "no-at-sign",
        "a@",
        "@example.com",
        "a b@example.com",
        "a@b@example.com",
        "a@-example.com",
        "a@example.com-",
        "a@example.com\n",
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "",
    ],
)
def test_email_rejected(value: str) -> None:
    assert field_of(lambda: validation.email(value)) == "email_address"
    assert field_of(lambda: validation.email(value, "mailbox")) == "mailbox"


@pytest.mark.parametrize("value", ["ada", "Ada_Bot-2.prod", "7", "a" * 128])
def test_agent_handle_accepted(value: str) -> None:
    assert validation.agent_handle(value) == value


@pytest.mark.parametrize(
    "value", ["", "_ada", ".ada", "-ada", "ada bot", "ada/x", "ada\n", "a" * 129]
)
def test_agent_handle_rejected(value: str) -> None:
    assert field_of(lambda: validation.agent_handle(value)) == "agent_handle"
