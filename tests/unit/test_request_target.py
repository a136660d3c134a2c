"""Parsing a webhook URL into where to connect and the start of the request: the fast road
for plain URLs takes them apart exactly as urlsplit and quote() do."""

from __future__ import annotations

import pytest

from hookline.delivery import request
from hookline.delivery.request import InvalidURL, Origin, parse_target

PLAIN = [
    "http://127.0.0.1:8080/d/s1",
    "https://hooks.example.com/inbound",
    "https://hooks.example.com",
    "http://example.com:80/a",
    "https://example.com:443/a/",
    "https://example.com:8443/a%20b/~user/x_y-z.json",
    "https://example.com/p:at@!$&'()*+,;=",
    "http://a.b-c.example/",
    "http://localhost:65535/x",
]
OTHER = [
    "HTTPS://Example.COM/Upper",
    "https://example.com/a b",
    "https://example.com/é",
    "https://example.com/a?b=c&d=e f",
    "https://user:pw@example.com/x",
    "https://example.com/x#frag",
    "http://[::1]:8080/v6",
    "https://bücher.example/x",
    "https://example.com:0080/leading-zero",
    "https://example.com/a|b",
]


@pytest.mark.parametrize("url", PLAIN + OTHER)
def test_every_url_parses_as_urlsplit_and_quote_take_it_apart(url: str) -> None:
    assert parse_target.__wrapped__(url) == request._parse_any(url)


@pytest.mark.parametrize("url", PLAIN)
def test_a_plain_url_takes_the_fast_road(url: str) -> None:
    assert request._PLAIN_URL.fullmatch(url) is not None


def test_the_request_line_and_host_header() -> None:
    target = parse_target.__wrapped__("http://127.0.0.1:8080/d/s1")
    assert target.origin == Origin("http", "127.0.0.1", 8080)
    assert target.head == b"POST /d/s1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    bare = parse_target.__wrapped__("https://example.com")
    assert bare.head == b"POST / HTTP/1.1\r\nHost: example.com\r\n"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:65536/too-high",
        "http://example.com:99999/too-high",
        "ftp://example.com/x",
        "https://",
        "https://example.com/\nx",
    ],
)
def test_what_is_not_a_usable_url_is_refused_on_either_road(url: str) -> None:
    with pytest.raises(InvalidURL):
        parse_target.__wrapped__(url)
