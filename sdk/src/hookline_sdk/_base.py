"""What ``Client`` and ``AsyncClient`` share: settings, the request of a call, reading its
answer, the retry policy and the query types of lists."""

from __future__ import annotations

import functools
import json
import os
import random
import ssl
from typing import Any, TypeVar

import httpx

from hookline_sdk._version import __version__
from hookline_sdk.errors import UnexpectedResponseError, error_for
from hookline_sdk.operations import IDEMPOTENT_METHODS, Call

T = TypeVar("T")

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0
#: connection failures of an idempotent call are retried this many times by default
DEFAULT_MAX_RETRIES = 2
#: first pause before a retry, doubled each time up to the cap (seconds)
DEFAULT_BACKOFF_S = 0.25
BACKOFF_CAP_S = 8.0
#: page size of the ``iter_*`` methods: within every list endpoint's limit
DEFAULT_PAGE_SIZE = 100


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every client the SDK makes in this process (httpx's defaults, the
    certificate authorities of ``certifi`` or of SSL_CERT_FILE and SSL_CERT_DIR): made once,
    as loading the authorities into a new context costs more CPU than the rest of a CLI
    command's call."""
    return httpx.create_ssl_context()


def settings(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The server's URL and the default headers; ``HOOKLINE_SERVER`` and
    ``HOOKLINE_API_KEY`` fill what is not given, as for the CLI."""
    server = (base_url or os.environ.get("HOOKLINE_SERVER") or DEFAULT_SERVER).rstrip("/")
    key = api_key if api_key is not None else os.environ.get("HOOKLINE_API_KEY")
    headers = {"User-Agent": f"hookline-sdk/{__version__}", "Accept": "application/json"}
    if key:
        headers["X-API-Key"] = key
    return server, headers


def request_of(call: Call[Any]) -> dict[str, Any]:
    """The keyword arguments of ``httpx.Client.request`` for ``call``."""
    kwargs: dict[str, Any] = {"method": call.method, "url": call.path}
    if call.params:
        kwargs["params"] = call.params
    if call.has_body:
        kwargs["content"] = encode(call.body)
        kwargs["headers"] = {"Content-Type": "application/json"}
    if call.timeout_s is not None:
        kwargs["timeout"] = call.timeout_s
    return kwargs


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def retries_for(call: Call[Any], max_retries: int) -> int:
    return max_retries if call.method in IDEMPOTENT_METHODS else 0


def backoff_s(retry: int, base_s: float) -> float:
    """Pause before retry number ``retry`` (0 first): doubling, capped, with jitter so that
    many clients cut off together do not come back together."""
    ceiling = min(BACKOFF_CAP_S, base_s * 2.0**retry)
    return ceiling * random.uniform(0.5, 1.0)


def read(call: Call[T], response: httpx.Response) -> T:
    """``call``'s result from ``response``, or its error status raised as an exception."""
    if response.status_code >= 400:
        raise error_for(response)
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    try:
        data = response.json()
    except ValueError:
        raise UnexpectedResponseError(
            f"{call.method} {call.path}: the answer is not JSON: {response.text[:200]!r}"
        ) from None
    return call.parse(data)
