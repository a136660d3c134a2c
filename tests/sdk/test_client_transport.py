"""What a healthy Hookline does not show on demand, over a real scripted HTTP server:
error statuses it rarely sends (400, 429, 5xx), dropped connections and the retries of
idempotent calls, and the ``has_more``/``next_cursor`` pages the server is adding."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

import hookline_sdk
from hookline_sdk import (
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    BadRequestError,
    Client,
    RateLimitError,
    ServerError,
)

from .conftest import Answer, Scripted, free_port

SUBS = "/api/v1/webhooks/subscriptions"
EVENTS = "/api/v1/events"


def _sub(i: int) -> dict[str, object]:
    return {
        "id": f"sub-{i}",
        "organization_id": "org_1",
        "url": f"https://example.com/{i}",
        "event_types": ["message.delivered"],
        "profile": "standard",
        "enabled": True,
        "created_at": "2026-12-06T00:00:00Z",
        "updated_at": "2026-12-06T00:00:00Z",
        "a_field_from_a_newer_server": 1,
    }


def _client(scripted: Scripted, **kw: object) -> Client:
    return Client(scripted.base, api_key="k", backoff_s=0.01, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, hookline_sdk.AuthenticationError),
        (403, hookline_sdk.PermissionDeniedError),
        (404, hookline_sdk.NotFoundError),
        (409, hookline_sdk.ConflictError),
        (413, hookline_sdk.PayloadTooLargeError),
        (422, hookline_sdk.UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_each_error_status_has_its_exception(
    scripted: Scripted, status: int, cls: type[APIStatusError]
) -> None:
    body = {"detail": f"said {status}", "errors": [{"field": "type", "message": "bad"}]}
    scripted.on("POST", EVENTS, Answer(status=status, body=body, headers={"Retry-After": "7"}))
    with _client(scripted) as client, pytest.raises(cls) as caught:
        client.publish_event("message.delivered")
    assert type(caught.value) is cls
    assert caught.value.status_code == status and caught.value.detail == f"said {status}"
    assert caught.value.errors == (hookline_sdk.FieldError(field="type", message="bad"),)
    if status == 429:
        assert isinstance(caught.value, RateLimitError) and caught.value.retry_after == 7.0


def test_a_429_without_retry_after_and_a_body_that_is_not_json(scripted: Scripted) -> None:
    scripted.on("POST", EVENTS, Answer(status=429))
    with _client(scripted) as client, pytest.raises(RateLimitError) as caught:
        client.publish_event("message.delivered")
    assert caught.value.retry_after is None and caught.value.errors == ()


def test_idempotent_calls_are_retried_after_dropped_connections(scripted: Scripted) -> None:
    scripted.on("GET", f"{SUBS}/sub-1", Answer(drop=True), Answer(drop=True), Answer(body=_sub(1)))
    with _client(scripted, max_retries=2) as client:
        assert client.get_subscription("sub-1").id == "sub-1"
    assert len(scripted.seen) == 3

    scripted.seen.clear()
    scripted.on("DELETE", f"{SUBS}/sub-1", Answer(drop=True), Answer(status=204))
    with _client(scripted, max_retries=2) as client:
        client.delete_subscription("sub-1")
    assert len(scripted.seen) == 2


def test_retries_give_up_with_a_connection_error(scripted: Scripted) -> None:
    scripted.on("GET", f"{SUBS}/sub-1", Answer(drop=True))
    with _client(scripted, max_retries=1) as client, pytest.raises(APIConnectionError):
        client.get_subscription("sub-1")
    assert len(scripted.seen) == 2


def test_a_post_is_never_sent_twice(scripted: Scripted) -> None:
    scripted.on("POST", EVENTS, Answer(drop=True), Answer(status=202))
    with _client(scripted, max_retries=5) as client, pytest.raises(APIConnectionError):
        client.publish_event("message.delivered")
    assert len(scripted.seen) == 1


def test_no_server_at_all_is_a_connection_error() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with Client(nobody, backoff_s=0.01) as client, pytest.raises(APIConnectionError):
        client.get_catalog()


def test_pages_follow_has_more_and_next_cursor(scripted: Scripted) -> None:
    scripted.on(
        "GET",
        SUBS,
        Answer(body={"subscriptions": [_sub(1), _sub(2)], "has_more": True}),
        Answer(body={"subscriptions": [_sub(3)], "has_more": True, "next_cursor": "c2"}),
        Answer(body={"subscriptions": [_sub(4), _sub(5)], "has_more": False}),
    )
    with _client(scripted) as client:
        got = [s.id for s in client.iter_subscriptions(page_size=2, url="u")]
    assert got == ["sub-1", "sub-2", "sub-3", "sub-4", "sub-5"]
    queries = [parse_qs(urlsplit(target).query) for _, target in scripted.seen]
    assert queries[0] == {"limit": ["2"], "url": ["u"]}
    # a short page does not end the list when the server says there is more
    assert queries[1] == {"limit": ["2"], "url": ["u"], "offset": ["2"]}
    assert queries[2] == {"limit": ["2"], "url": ["u"], "cursor": ["c2"]}
    assert len(queries) == 3, "has_more false ends it"


def test_without_has_more_a_short_page_is_the_last(scripted: Scripted) -> None:
    scripted.on(
        "GET",
        SUBS,
        Answer(body={"subscriptions": [_sub(1), _sub(2)]}),
        Answer(body={"subscriptions": [_sub(3)]}),
    )
    with _client(scripted) as client:
        subs = list(client.iter_subscriptions(page_size=2))
    assert [s.id for s in subs] == ["sub-1", "sub-2", "sub-3"]
    assert len(scripted.seen) == 2
    assert subs[0].raw["a_field_from_a_newer_server"] == 1


def test_an_answer_of_the_wrong_shape_is_an_unexpected_response(scripted: Scripted) -> None:
    scripted.on("GET", f"{SUBS}/x", Answer(body={"id": "x"}))
    with _client(scripted) as client, pytest.raises(hookline_sdk.UnexpectedResponseError):
        client.get_subscription("x")


async def test_the_async_client_retries_and_maps_errors_too(scripted: Scripted) -> None:
    scripted.on("GET", f"{SUBS}/sub-1", Answer(drop=True), Answer(body=_sub(1)))
    scripted.on(
        "POST", EVENTS, Answer(status=429, body={"detail": "slow"}, headers={"Retry-After": "3"})
    )
    scripted.on(
        "GET",
        SUBS,
        Answer(body={"subscriptions": [_sub(1)], "has_more": True, "next_cursor": "n"}),
        Answer(body={"subscriptions": [_sub(2)], "has_more": False}),
    )
    async with AsyncClient(scripted.base, api_key="k", backoff_s=0.01) as client:
        assert (await client.get_subscription("sub-1")).id == "sub-1"
        with pytest.raises(RateLimitError) as caught:
            await client.publish_event("message.delivered")
        assert caught.value.retry_after == 3.0 and caught.value.detail == "slow"
        assert [s.id async for s in client.iter_subscriptions(page_size=1)] == ["sub-1", "sub-2"]
