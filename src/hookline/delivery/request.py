"""A webhook POST as it goes on the wire: the URL parsed into where to connect and the start
of the request, and the whole request serialized into one buffer.

Kept apart from the client (``http1.py``) because it is pure: strings in, bytes out, no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urlsplit

TARGET_CACHE_SIZE = 4096  # parsed URLs kept: webhook URLs repeat, parsing them costs µs each
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_PATH_SAFE = "/%:@!$&'()*+,;="  # besides letters, digits and "_.-~", which quote() keeps
_QUERY_SAFE = _PATH_SAFE + "?"
_MAX_PORT = 65_535
#: a URL with nothing to escape or normalize (lower-case scheme and host name, a port without
#: a leading zero, a path of characters quote() keeps, no query, user or fragment): as
#: urlsplit and quote() would take it apart, without them
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9.-]+)(?::([1-9][0-9]{0,4}))?(/[\w.~/%:@!$&'()*+,;=-]*)?", re.ASCII
)
#: headers the client writes itself: a second copy from the caller would break the framing
_CLIENT_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})


class RequestError(Exception):
    """The request could not be made or its answer could not be read (not an OS error)."""


class InvalidURL(RequestError):
    pass


class InvalidHeader(RequestError):
    pass


class Origin(NamedTuple):
    """Where a connection goes; the pool key. A tuple, so hashing it is cheap."""

    scheme: str
    host: str  # lower case, IDNA-encoded, IPv6 without brackets
    port: int


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    #: the request line and Host header, ready to send
    head: bytes


# -- requests -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=TARGET_CACHE_SIZE)
def parse_target(url: str) -> Target:
    """What an http(s) URL asks to connect to, and the start of a POST to it."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        # nothing to escape or normalize: urlsplit would find the same parts, at several
        # times the cost (a fan-out to many subscriptions parses as many URLs)
        scheme, host, port_text, path = plain.groups()
        port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
        if port <= _MAX_PORT:
            return _target(scheme, host, port, path or "/")
    return _parse_any(url)


def _parse_any(url: str) -> Target:
    # urlsplit silently drops tabs and newlines, so they are refused before it sees them
    if _CONTROL_CHARS.search(url):
        raise InvalidURL("the URL contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"only http and https URLs are supported, not {parts.scheme!r}")
    host = _ascii_host(parts.hostname or "")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path = f"{path}?{quote(parts.query, safe=_QUERY_SAFE)}"
    return _target(scheme, host, port, path)


def _target(scheme: str, host: str, port: int, path: str) -> Target:
    host_header = f"[{host}]" if ":" in host else host
    if port != _DEFAULT_PORTS[scheme]:
        host_header = f"{host_header}:{port}"
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n".encode("ascii")
    return Target(origin=Origin(scheme, host, port), head=head)


def _ascii_host(host: str) -> str:
    if not host:
        raise InvalidURL("the URL names no host")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(f"not a valid host name: {host!r}") from exc


def serialize_request(target: Target, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The whole request as one buffer: one write, one syscall."""
    if not _CLIENT_HEADERS.isdisjoint(map(str.lower, headers)):
        raise InvalidHeader("Host, Content-Length and Transfer-Encoding are set by the client")
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    # each line brings exactly one CR and one LF: any other came from a name or a value
    count = len(headers)
    if lines.count("\r") != count or lines.count("\n") != count or "\0" in lines:
        raise InvalidHeader("header names and values must not contain CR, LF or NUL")
    try:
        encoded = lines.encode()
    except UnicodeEncodeError as exc:
        raise InvalidHeader(f"header not encodable: {exc}") from exc
    return b"".join((target.head, b"Content-Length: %d\r\n" % len(body), encoded, b"\r\n", body))
