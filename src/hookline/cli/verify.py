"""``hookline verify``: is a saved request authentic? Checked with the server's own signing code.

Exit status: 0 authentic, 1 not authentic (the reason is printed), 2 a usage error.
"""

from __future__ import annotations

import binascii
import hmac
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from hookline.cli._common import RECEIVER_PANEL, app, err
from hookline.core import signing
from hookline.core.profiles import INBOX, INBOXROAD, INKBOX, PROFILES, STANDARD

DEFAULT_TOLERANCE_S = 300
NOT_AUTHENTIC = 1
USAGE = 2


class NotAuthentic(Exception):
    """Why a request is not authentic."""


def check(
    profile: str,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now_s: float,
    tolerance_s: float,
) -> None:
    """Return when the request is authentic; raise ``NotAuthentic`` saying why otherwise.

    ``headers`` has lower-case names. ``ValueError``: the secret cannot be a key of the
    profile (a usage error, not a verdict on the request)."""
    if profile == STANDARD:
        signing.standard_key_bytes(secret)  # a secret that is not base64 is a usage error
        msg_id = _need(headers, "webhook-id")
        ts = _need(headers, "webhook-timestamp")
        given = _need(headers, "webhook-signature")
        _within(ts, "webhook-timestamp", now_s, tolerance_s)
        if not signing.verify_standard(secret, msg_id, ts, body, given):
            raise NotAuthentic("bad signature: no v1 signature in webhook-signature matches")
        return
    if profile == INKBOX:
        request_id = _need(headers, "x-inkbox-request-id")
        ts = _need(headers, "x-inkbox-timestamp")
        given = _need(headers, "x-inkbox-signature")
        _within(ts, "X-Inkbox-Timestamp", now_s, tolerance_s)
        _same(signing.sign_inkbox(secret, request_id, ts, body), given, "X-Inkbox-Signature")
        return
    if profile == INBOX:
        given = _need(headers, "x-inbox-signature")
        _same(signing.sign_inbox(secret, body), given, "X-Inbox-Signature")
        return
    if profile == INBOXROAD:
        given = _need(headers, "x-signature")
        _same(signing.sign_inboxroad(secret, body), given, "X-Signature")
        return
    raise ValueError(f"unknown profile {profile!r}")


def _need(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise NotAuthentic(f"missing header {name}")
    return value


def _within(value: str, name: str, now_s: float, tolerance_s: float) -> None:
    try:
        ts = int(value)
    except ValueError:
        raise NotAuthentic(f"bad header {name}: {value!r} is not a Unix time") from None
    off = now_s - ts
    if abs(off) > tolerance_s:
        when = "old" if off >= 0 else "in the future"
        raise NotAuthentic(
            f"timestamp outside tolerance: {name} {ts} is {int(abs(off))} s {when}, "
            f"more than {tolerance_s:g} s"
        )


def _same(expected: str, given: str, name: str) -> None:
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise NotAuthentic(f"bad signature: {name} does not match the body")


def parse_headers(lines: list[str]) -> dict[str, str]:
    """``Name: value`` lines as a dict with lower-case names. ``ValueError`` names a bad one."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"header {line!r} is not 'Name: value'")
        out[name.strip().lower()] = value.strip()
    return out


@app.command(rich_help_panel=RECEIVER_PANEL)
def verify(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            envvar="HOOKLINE_VERIFY_PROFILE",
            show_envvar=True,
            help=f"Wire profile: {', '.join(PROFILES)}.",
        ),
    ],
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="HOOKLINE_VERIFY_SECRET",
            show_envvar=True,
            help="The subscription's secret (inkbox: the owner's signing key).",
        ),
    ],
    body: Annotated[
        str,
        typer.Option("--body", help="File holding the raw request body ('-' reads stdin)."),
    ],
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="A request header, 'Name: value'; repeat it."),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            envvar="HOOKLINE_VERIFY_TOLERANCE_S",
            show_envvar=True,
            min=0,
            help="Seconds the signed timestamp may be from now (standard, inkbox).",
        ),
    ] = DEFAULT_TOLERANCE_S,
    now: Annotated[
        float | None,
        typer.Option(
            "--now",
            envvar="HOOKLINE_VERIFY_NOW",
            show_envvar=True,
            help="Check as of this Unix time (a request saved earlier); default now.",
        ),
    ] = None,
) -> None:
    """Say whether a saved request is authentic, and why not when it is not."""
    if profile not in PROFILES:
        _usage(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    try:
        raw = sys.stdin.buffer.read() if body == "-" else Path(body).read_bytes()
    except OSError as exc:
        _usage(f"cannot read the body: {exc}")
    try:
        headers = parse_headers(header or [])
    except ValueError as exc:
        _usage(str(exc))
    try:
        check(
            profile,
            secret,
            raw,
            headers,
            now_s=time.time() if now is None else now,
            tolerance_s=tolerance,
        )
    except (ValueError, binascii.Error):
        _usage("the secret is not a key of this profile (standard: whsec_ and base64)")
    except NotAuthentic as exc:
        print(f"not authentic: {exc}")
        raise typer.Exit(NOT_AUTHENTIC) from None
    print(f"authentic: {profile} signature verified")


def _usage(message: str) -> NoReturn:
    err.print(f"[red]usage error:[/red] {message}")
    raise typer.Exit(USAGE)
