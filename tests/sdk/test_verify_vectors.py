"""``hookline_sdk.verify`` over the shared signature vectors, and over tampered copies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import hookline_sdk
from hookline_sdk import (
    InvalidHeader,
    InvalidPayload,
    InvalidSignature,
    MissingHeader,
    TimestampOutOfTolerance,
    verify,
    verify_signature,
)

from .conftest import VECTORS_FILE, load_vectors

VECTORS = load_vectors()
TIMED = ("standard", "inkbox")


def _case(v: dict[str, Any]) -> tuple[str, str, bytes, dict[str, str], int | None]:
    ts = v.get("timestamp")
    return (
        v["scheme"],
        v["secret"],
        base64.b64decode(v["body_base64"]),
        dict(v["headers"]),
        int(ts) if ts else None,
    )


def _ids() -> list[str]:
    return [f"{i}-{v['scheme']}" for i, v in enumerate(VECTORS)]


def test_the_vectors_are_the_shared_ones_byte_for_byte() -> None:
    """The copy under tests/vectors is ``shared/vectors/signatures.json`` (beside the
    repository, else under HOOKLINE_SHARED_DIR) byte for byte."""
    candidates = [Path(__file__).resolve().parents[3] / "shared"]
    if os.environ.get("HOOKLINE_SHARED_DIR"):
        candidates.append(Path(os.environ["HOOKLINE_SHARED_DIR"]))
    found = [c / "vectors" / "signatures.json" for c in candidates]
    found = [f for f in found if f.is_file()]
    if not found:
        pytest.skip("no shared/ beside this checkout")
    assert VECTORS_FILE.read_bytes() == found[0].read_bytes()


def test_the_vectors_cover_every_profile() -> None:
    assert {v["scheme"] for v in VECTORS} == set(hookline_sdk.PROFILES)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_every_vector_verifies(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    verify_signature(profile, secret, body, headers, now=ts)
    if body:
        assert verify(profile, secret, body, headers, now=ts) == json.loads(body)
    else:
        # signed and authentic, but there is no payload to return
        with pytest.raises(InvalidPayload):
            verify(profile, secret, body, headers, now=ts)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_a_tampered_body_is_an_invalid_signature(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    with pytest.raises(InvalidSignature):
        verify(profile, secret, body + b" ", headers, now=ts)
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        with pytest.raises(InvalidSignature):
            verify(profile, secret, flipped, headers, now=ts)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_a_wrong_secret_is_an_invalid_signature(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    if profile == "standard":
        wrong = "whsec_" + base64.b64encode(b"\x07" * 24).decode()
    else:
        wrong = secret[:-1] + ("x" if secret[-1] != "x" else "y")
    with pytest.raises(InvalidSignature):
        verify_signature(profile, wrong, body, headers, now=ts)


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["scheme"] in TIMED],
    ids=[i for i in _ids() if i.split("-")[1] in TIMED],
)
def test_an_old_or_future_timestamp_is_out_of_tolerance(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    assert ts is not None
    verify_signature(profile, secret, body, headers, now=ts + 300)
    with pytest.raises(TimestampOutOfTolerance) as old:
        verify_signature(profile, secret, body, headers, now=ts + 301)
    assert "301 s old" in str(old.value)
    with pytest.raises(TimestampOutOfTolerance):
        verify_signature(profile, secret, body, headers, now=ts - 301)
    verify_signature(profile, secret, body, headers, now=ts + 1000, tolerance_s=1000)
    # without ``now`` the clock is today's, long after the vectors were made
    with pytest.raises(TimestampOutOfTolerance):
        verify_signature(profile, secret, body, headers)
    when = datetime.fromtimestamp(ts, UTC)
    verify_signature(profile, secret, body, headers, now=when)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_each_missing_header_is_named(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    for name in headers:
        fewer = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(MissingHeader) as caught:
            verify(profile, secret, body, fewer, now=ts)
        assert caught.value.header == name.lower()
        blank = {**headers, name: " "}
        with pytest.raises(MissingHeader):
            verify(profile, secret, body, blank, now=ts)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_header_names_are_case_insensitive(vector: dict[str, Any]) -> None:
    profile, secret, body, headers, ts = _case(vector)
    for shaped in (str.upper, str.lower, str.title):
        verify_signature(profile, secret, body, {shaped(k): v for k, v in headers.items()}, now=ts)
    # (name, value) pairs, as Flask's request.headers iterates
    verify_signature(profile, secret, body, list(headers.items()), now=ts)


def test_standard_accepts_any_matching_signature_among_several() -> None:
    profile, secret, body, headers, ts = _case(VECTORS[3])
    good = headers["webhook-signature"]
    other = "v1," + base64.b64encode(b"\x00" * 32).decode()
    for header in (f"{other} {good}", f"{good} {other}", f"v1a,xyz {other}  {good}"):
        verify(profile, secret, body, {**headers, "webhook-signature": header}, now=ts)
    with pytest.raises(InvalidSignature):
        verify(profile, secret, body, {**headers, "webhook-signature": other}, now=ts)
    # another version's entry carrying the right value does not count
    unversioned = good.replace("v1,", "v2,")
    with pytest.raises(InvalidSignature):
        verify(profile, secret, body, {**headers, "webhook-signature": unversioned}, now=ts)


def test_secrets_are_read_per_profile() -> None:
    """standard: whsec_ then base64; inkbox: whsec_ dropped, then UTF-8; inbox and
    inboxroad: the UTF-8 string as is."""
    std = VECTORS[3]
    bare = std["secret"].removeprefix("whsec_")
    profile, _, body, headers, ts = _case(std)
    verify(profile, bare, body, headers, now=ts)  # the prefix is optional
    inkbox_prefixed = VECTORS[4]
    assert inkbox_prefixed["secret"].startswith("whsec_")
    profile, secret, body, headers, ts = _case(inkbox_prefixed)
    verify(profile, secret.removeprefix("whsec_"), body, headers, now=ts)
    inbox = VECTORS[1]
    assert "whsec_" in inbox["secret"]
    profile, secret, body, headers, _ = _case(inbox)
    with pytest.raises(InvalidSignature):  # inbox keeps every byte of its secret
        verify(profile, secret.replace("whsec_", ""), body, headers)


def test_misuse_is_a_value_error_not_a_verdict() -> None:
    profile, _, body, headers, ts = _case(VECTORS[3])
    with pytest.raises(ValueError, match="base64"):
        verify(profile, "whsec_not base64!", body, headers, now=ts)
    with pytest.raises(ValueError, match="unknown profile"):
        verify("svix", "x", body, headers)
    with pytest.raises(ValueError, match="aware"):
        verify(profile, VECTORS[3]["secret"], body, headers, now=datetime(2026, 1, 1))


def test_a_timestamp_that_is_not_a_number_is_an_invalid_header() -> None:
    profile, secret, body, headers, ts = _case(VECTORS[0])
    with pytest.raises(InvalidHeader):
        verify(profile, secret, body, {**headers, "X-Inkbox-Timestamp": "soon"}, now=ts)


def test_a_signed_body_that_is_not_json_is_an_invalid_payload() -> None:
    profile, secret, _, _, _ = _case(VECTORS[2])
    body = b"not json"
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    verify_signature(profile, secret, body, {"X-Signature": sig})
    with pytest.raises(InvalidPayload):
        verify(profile, secret, body, {"X-Signature": sig})
    with pytest.raises(InvalidPayload):
        verify(profile, secret, body.decode(), {"X-Signature": sig})
    signed = b'{"kind":"open"}'
    sig = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    assert verify(profile, secret, signed.decode(), {"x-signature": sig}) == {"kind": "open"}


def test_every_error_is_a_webhook_verification_error() -> None:
    for cls in (InvalidHeader, InvalidPayload, InvalidSignature, MissingHeader):
        assert issubclass(cls, hookline_sdk.WebhookVerificationError)
    assert issubclass(TimestampOutOfTolerance, hookline_sdk.WebhookVerificationError)


def test_the_sdk_never_imports_the_server() -> None:
    code = (
        "import sys, hookline_sdk\n"
        "bad = [m for m in sys.modules if m == 'hookline' or m.startswith('hookline.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    sources = Path(hookline_sdk.__file__).parent.glob("*.py")
    for source in sources:
        text = source.read_text()
        assert "import hookline\n" not in text and "from hookline " not in text, source
        assert "from hookline." not in text and "import hookline." not in text, source
