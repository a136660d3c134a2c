"""Every error the SDK raises.

::

    HooklineSDKError
    ├── WebhookVerificationError        a received webhook is not authentic (or not readable)
    │   ├── MissingHeader
    │   ├── InvalidHeader
    │   ├── TimestampOutOfTolerance
    │   ├── InvalidSignature
    │   └── InvalidPayload
    ├── APIConnectionError              the server could not be reached (after any retries)
    ├── UnexpectedResponseError         the server answered 2xx with a body the SDK cannot read
    └── APIStatusError                  the server answered with an error status
        ├── BadRequestError             400
        ├── AuthenticationError         401
        ├── PermissionDeniedError       403
        ├── NotFoundError               404
        ├── ConflictError               409
        ├── PayloadTooLargeError        413
        ├── UnprocessableEntityError    422
        ├── RateLimitError              429 (``retry_after``)
        └── ServerError                 5xx
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx


class HooklineSDKError(Exception):
    """The root of every error the SDK raises."""


class WebhookVerificationError(HooklineSDKError):
    """A received webhook failed verification; the message says why."""


class MissingHeader(WebhookVerificationError):
    def __init__(self, header: str) -> None:
        super().__init__(f"missing header {header}")
        self.header = header


class InvalidHeader(WebhookVerificationError):
    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"invalid header {header}: {reason}")
        self.header = header


class TimestampOutOfTolerance(WebhookVerificationError):
    def __init__(self, timestamp_s: int, now_s: float, tolerance_s: float) -> None:
        off = int(abs(now_s - timestamp_s))
        when = "old" if timestamp_s <= now_s else "in the future"
        super().__init__(
            f"timestamp {timestamp_s} is {off} s {when}, outside the {tolerance_s:g} s tolerance"
        )
        self.timestamp_s = timestamp_s
        self.now_s = now_s
        self.tolerance_s = tolerance_s


class InvalidSignature(WebhookVerificationError):
    def __init__(self, message: str = "no signature matches the body") -> None:
        super().__init__(message)


class InvalidPayload(WebhookVerificationError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the body is not a JSON payload: {reason}")


class APIConnectionError(HooklineSDKError):
    """The request did not get an answer (refused, reset, timed out), after any retries."""


class UnexpectedResponseError(HooklineSDKError):
    """A success answer whose body does not have the shape the SDK expects."""


@dataclass(frozen=True, kw_only=True)
class FieldError:
    """One entry of an error body's ``errors``: which input and what is wrong with it."""

    field: str
    message: str


class APIStatusError(HooklineSDKError):
    """The server answered with an error status. ``detail`` and ``errors`` are its own words."""

    status_code: int

    def __init__(
        self,
        *,
        status_code: int,
        detail: Any,
        errors: tuple[FieldError, ...],
        response: httpx.Response,
    ) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.errors = errors
        self.response = response


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class PayloadTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    """429. ``retry_after`` is the seconds the server asked to wait, when it said."""

    def __init__(
        self,
        *,
        status_code: int,
        detail: Any,
        errors: tuple[FieldError, ...],
        response: httpx.Response,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, errors=errors, response=response)
        self.retry_after = _retry_after_s(response.headers.get("retry-after"))


class ServerError(APIStatusError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for(response: httpx.Response) -> APIStatusError:
    """The exception of an error answer, carrying its ``detail`` and ``errors``."""
    status = response.status_code
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIStatusError)
    detail: Any = response.text or response.reason_phrase
    errors: tuple[FieldError, ...] = ()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail", detail)
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            errors = tuple(
                FieldError(field=str(e.get("field", "")), message=str(e.get("message", "")))
                for e in raw_errors
                if isinstance(e, dict)
            )
    return cls(status_code=status, detail=detail, errors=errors, response=response)


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
