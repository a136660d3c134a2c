"""How deeply a request's JSON may nest, checked on the raw bytes before anything parses them.

Python's parsers and validators recurse once per level: a body nested a few hundred levels
deep makes one of them fail with ``RecursionError`` (an answer of 500), and a deep structure
stored as an event would be rendered again on every attempt. No webhook payload needs more
than a few levels, so every JSON body is held to ``MAX_JSON_DEPTH``.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 64  # arrays and objects inside one another, the outermost counted

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_RUN = re.compile(rb"\[+|\]+")
#: every byte but the brackets, and the brackets made one kind: only the nesting is left
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
LEAF_PASSES = 3  # innermost levels taken away at C speed before walking what is left


def too_deep(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects deeper than ``max_depth``.

    Invalid JSON is not judged here (the parser that follows refuses it); at worst a bracket
    inside a broken string is counted.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False  # too few brackets to nest that deep: most bodies end here
    # brackets inside strings do not count; what is left is the bare nesting, "[[][]]"
    nesting = _STRING.sub(b"", body).translate(_ONE_KIND, _NOT_BRACKETS)
    if b"[" * (max_depth + 1) in nesting:
        return True
    # each pass takes away the innermost level (the leaves, most of a wide body) in C, so
    # that the walk below has fewer turns to take
    levels = 0
    for _ in range(LEAF_PASSES):
        inner = nesting.replace(b"[]", b"")
        if inner == nesting:
            break
        nesting = inner
        levels += 1
    depth = 0
    for run in _RUN.finditer(nesting):
        if nesting[run.start()] == 0x5B:  # "["
            depth += run.end() - run.start()
            if depth + levels > max_depth:
                return True
        else:
            depth -= run.end() - run.start()
    return False
