"""The domain error hierarchy."""

from __future__ import annotations

import pytest

from hookline.core import errors


@pytest.mark.parametrize(
    "cls",
    [
        errors.ValidationFailed,
        errors.NotFound,
        errors.Unauthenticated,
        errors.Forbidden,
        errors.Conflict,
        errors.PayloadTooLarge,
    ],
)
def test_every_domain_error_is_a_hookline_error(cls: type[Exception]) -> None:
    assert issubclass(cls, errors.HooklineError)
    assert cls.__bases__ == (errors.HooklineError,)


def test_validation_failed_names_its_field() -> None:
    exc = errors.ValidationFailed("event_types[1]", "'x' is repeated")
    assert exc.field == "event_types[1]"
    assert exc.reason == "'x' is repeated"
    assert str(exc) == exc.message == "event_types[1]: 'x' is repeated"


def test_not_found_names_the_resource() -> None:
    exc = errors.NotFound("subscription", "abc")
    assert (exc.kind, exc.key) == ("subscription", "abc")
    assert str(exc) == "subscription 'abc' not found"


def test_plain_errors_keep_their_message() -> None:
    exc = errors.Forbidden("agent keys manage their own identity only")
    assert exc.message == str(exc) == "agent keys manage their own identity only"
