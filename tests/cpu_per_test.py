"""A pytest plugin that writes down each test's CPU: the test process's and that of every
process it started, read from ``/proc`` before and after the test (user + system time of the
live processes under it, plus what they waited for of their ended children).

Not part of the suite: a tool for finding where the suite's CPU goes
(docs/perf/2026-12-07-test-forks-frozen.md). For example, the first pass as scripts/test runs
it::

    PYTHONPATH=tests CPU_PER_TEST_OUT=/tmp/cpu .venv/bin/coverage run -m pytest \\
        -p cpu_per_test -n 4 --dist loadfile --no-loadscope-reorder -m "not serial"

Each process appends a JSON line per test (``{"id": ..., "cpu": seconds}``) to
``$CPU_PER_TEST_OUT-<xdist worker>.jsonl``. What PostgreSQL's own processes spend is not
counted; neither is a process that left its parent (daemonized) before it ended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, int] | None:
    """A process's parent and its CPU ticks (its own and its waited-for children's)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def tree_cpu_s() -> float:
    """The CPU seconds of this process and every live process under it."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (found := _stat(pid)) is not None:
            children.setdefault(found[0], []).append((int(pid), found[1]))
    mine = _stat(str(os.getpid()))
    total = mine[1] if mine else 0
    stack = [os.getpid()]
    while stack:
        for child, ticks in children.get(stack.pop(), []):
            total += ticks
            stack.append(child)
    return total / _TICKS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    before = tree_cpu_s()
    yield
    spent = tree_cpu_s() - before
    out = os.environ.get("CPU_PER_TEST_OUT", "cpu-per-test")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"{out}-{worker}.jsonl", "a") as f:
        f.write(json.dumps({"id": item.nodeid, "cpu": round(spent, 3)}) + "\n")
