"""The depth bound of request JSON, on raw bytes."""

from __future__ import annotations

import json

import pytest

from hookline.core.json_depth import MAX_JSON_DEPTH, too_deep


def nested(depth: int, kind: str = "array") -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("kind", ["array", "object"])
def test_the_bound_is_exact(kind: str) -> None:
    assert not too_deep(nested(MAX_JSON_DEPTH, kind))
    assert too_deep(nested(MAX_JSON_DEPTH + 1, kind))
    assert too_deep(nested(100_000, kind))


def test_brackets_inside_strings_do_not_count() -> None:
    inside = json.dumps(["[" * 500, '\\"{' * 500, {"k": "}" * 500}]).encode()
    assert json.loads(inside)  # valid JSON
    assert not too_deep(inside)


def test_wide_bodies_are_not_deep() -> None:
    wide = json.dumps({"events": [{"data": {"a": [[{"b": [1]}]]}}] * 2000}).encode()
    assert not too_deep(wide)
    assert not too_deep(b"[" + b"[[[[[]]]]]," * 1000 + b"[]]")


def test_depth_is_found_behind_leaves_and_siblings() -> None:
    # each level holds a leaf and a sibling two deep before going deeper: no long run of
    # openers, and k levels nest k + 2 deep
    def levels(k: int) -> bytes:
        return b"[[],[[]]," * k + b"1" + b"]" * k

    assert json.loads(levels(3)) == [[], [[]], [[], [[]], [[], [[]], 1]]]
    assert not too_deep(levels(MAX_JSON_DEPTH - 2))
    assert too_deep(levels(MAX_JSON_DEPTH - 1))
