"""docs/api.md's signature snippets, run against the signature vectors: the docs cannot drift."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hookline.config import Settings
from hookline.core.profiles import PROFILES
from hookline.services.publishing import MAX_BATCH, MAX_DATA_BYTES

ROOT = Path(__file__).parents[2]
API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SNIPPET = re.compile(r"```python verify=(\w+)\n(.*?)```", re.DOTALL)


#: the signature vectors, copied into the repository so the tests run from any clone
VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "signatures.json"


VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
Verify = Callable[..., bool]


def _snippets() -> dict[str, str]:
    found = SNIPPET.findall(API_MD)
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), f"a profile has two snippets: {names}"
    return dict(found)


def _verifier(profile: str) -> Verify:
    code = _snippets()[profile]
    imports = set(re.findall(r"^(?:import|from) (\w+)", code, re.MULTILINE))
    assert imports <= {"base64", "hashlib", "hmac", "time"}, f"standard library only: {imports}"
    namespace: dict[str, Any] = {}
    exec(compile(code, f"docs/api.md:{profile}", "exec"), namespace)  # noqa: S102 - our own docs
    verify: Verify = namespace["verify"]
    return verify


def test_there_is_one_snippet_per_profile() -> None:
    assert set(_snippets()) == set(PROFILES)


def _call(verify: Verify, vector: dict[str, Any], secret: str, body: bytes, **headers: str) -> bool:
    sent = {**vector["headers"], **headers}
    if "timestamp" in vector:
        return verify(secret, sent, body, now=int(vector["timestamp"]) + 299)
    return verify(secret, sent, body)


@pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{i:02d}-{v['scheme']}" for i, v in enumerate(VECTORS)]
)
def test_each_snippet_accepts_its_vectors_and_nothing_else(vector: dict[str, Any]) -> None:
    verify = _verifier(vector["scheme"])
    body = base64.b64decode(vector["body_base64"])
    secret = vector["secret"]
    assert _call(verify, vector, secret, body)
    assert not _call(verify, vector, secret, body + b" "), "a changed body"
    other = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # still base64 for standard
    assert not _call(verify, vector, other, body), "another secret"
    if "timestamp" in vector:
        sent = vector["headers"]
        late = int(vector["timestamp"]) + 301
        assert not verify(secret, sent, body, now=late), "a stale timestamp"


def test_the_secret_table_says_what_signing_does() -> None:
    rows = {
        m[1]: m[0]
        for m in re.finditer(r"^\| `(\w+)` \|.*$", API_MD, re.MULTILINE)
        if m[1] in PROFILES
    }
    assert set(rows) == set(PROFILES)
    assert "**base64-decode**" in rows["standard"] and "strip `whsec_`" in rows["standard"]
    assert "strip `whsec_`" in rows["inkbox"] and "**UTF-8 bytes**" in rows["inkbox"]
    assert "**as is**" in rows["inbox"] and "**as is**" in rows["inboxroad"]


def test_the_documented_limits_are_the_codes() -> None:
    assert MAX_BATCH == 1000 and "**1 to 1,000** events" in API_MD
    assert MAX_DATA_BYTES == 256 * 1024 and f"{MAX_DATA_BYTES:,} bytes" in API_MD
    assert f"data is larger than {MAX_DATA_BYTES} bytes" in API_MD
    default_body = Settings.model_fields["max_body_bytes"].default
    assert f"request body larger than {default_body} bytes" in API_MD
    assert "$API/events/batch" in API_MD
    assert "$API/events/evt_" in API_MD
    assert "-X POST $API/phone/numbers" in API_MD
