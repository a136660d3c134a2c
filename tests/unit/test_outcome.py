"""Classifying what an endpoint answered."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from hookline.core.outcome import Outcome, classify, parse_retry_after

NOW_S = 1_767_225_600.0


@pytest.mark.parametrize("status", [200, 201, 202, 204, 226, 299])
def test_2xx_is_success(status: int) -> None:
    assert classify(status=status, error=None) == Outcome(success=True, status=status, error=None)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308, 399])
def test_3xx_is_a_failure_because_redirects_are_not_followed(status: int) -> None:
    out = classify(status=status, error=None)
    assert not out.success
    assert out.status == status
    assert out.error == f"redirect not followed ({status})"
    assert not out.gone


@pytest.mark.parametrize("status", [100, 199, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504])
def test_other_statuses_are_failures(status: int) -> None:
    out = classify(status=status, error=None)
    assert not out.success
    assert out.error == f"HTTP {status}"
    assert not out.gone


def test_no_response_is_a_failure_carrying_the_transport_error() -> None:
    out = classify(status=None, error="timed out after 10 s")
    assert out == Outcome(success=False, status=None, error="timed out after 10 s")
    assert classify(status=None, error=None).error == "no response"


def test_410_gone() -> None:
    out = classify(status=410, error=None, retry_after="60")
    assert out.gone
    assert not out.success
    assert out.retry_after_s is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_on_429_and_503(status: int) -> None:
    assert classify(status=status, error=None, retry_after="120").retry_after_s == 120.0
    assert classify(status=status, error=None, retry_after=" 0 ").retry_after_s == 0.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date_on_429_and_503(status: int) -> None:
    header = formatdate(NOW_S + 90, usegmt=True)
    out = classify(status=status, error=None, retry_after=header, now_s=NOW_S)
    assert out.retry_after_s == 90.0


def test_retry_after_http_date_in_the_past_means_now() -> None:
    header = formatdate(NOW_S - 3600, usegmt=True)
    assert classify(status=503, error=None, retry_after=header, now_s=NOW_S).retry_after_s == 0.0


@pytest.mark.parametrize("status", [200, 302, 400, 404, 500, 502, 504])
def test_retry_after_ignored_on_other_statuses(status: int) -> None:
    assert classify(status=status, error=None, retry_after="120").retry_after_s is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "1.5",
        "12 seconds",
        "²",  # str.isdigit() is true for it, float() is not
        "Wed, 21 Oct 2015 07:28:00",  # a date without a zone
        "Wed, 99 Foo 2015 07:28:00 GMT",
    ],
)
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW_S) is None
    assert classify(status=429, error=None, retry_after=value, now_s=NOW_S).retry_after_s is None


def test_retry_after_date_with_gmt_or_numeric_zone() -> None:
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", NOW_S) == 60.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 +0000", NOW_S) == 30.0
