"""STYLE.md 13 and issue 21: small modules and classes, checked rather than hoped for."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "hookline"
#: a module past this many lines is asking to be split
MAX_MODULE_LINES = 600
#: nor may one class grow past this many
MAX_CLASS_LINES = 300


def _sources() -> list[Path]:
    found = sorted(SRC.rglob("*.py"))
    assert len(found) > 100, f"no sources found under {SRC}"
    return found


def test_no_module_is_over_the_bound() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_class_is_over_the_bound() -> None:
    big = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big[f"{path.relative_to(SRC)}:{node.name}"] = size
    assert big == {}
