"""The benchmark harness keeps working: its smoke mode end to end, on SQLite.

Tiny sizes; no Celery (it is a bench-only dependency). The test installs nothing: nginx and
wrk must be on the machine (.ci/run installs them, README "Tests"); the harness's
``--no-install`` makes a missing one fail the run with its package's name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {"a1", "a10", "b", "c", "d", "e", "f", "g"}


# beside the other test processes (it once ran alone, after them) it takes a few times as long
@pytest.mark.timeout(600)
def test_smoke_run_delivers_everything_once_and_writes_the_report(tmp_path: Path) -> None:
    report, figures = tmp_path / "benchmarks.md", tmp_path / "figures.json"
    # the harness and the servers it starts run unmeasured when the suite runs under
    # coverage: what this test checks is the harness, and measuring its loads only slows it
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.run", "--smoke", "--out", str(report),
            "--json", str(figures), "--work", str(tmp_path / "work"), "--no-install",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=580, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    results = json.loads(figures.read_text())
    outcomes = results["outcomes"]
    assert {o["scenario"] for o in outcomes} == SCENARIOS
    for o in outcomes:
        assert o["error"] is None, o
        tally = o["tally"]
        assert tally["received"] > 0, o
        assert tally["duplicated"] == 0, o
        assert tally["unexpected"] == 0, o
        if o["drained"]:
            assert tally["lost"] == 0, o
            assert tally["received"] == tally["expected"], o
    ingest = next(o for o in outcomes if o["scenario"] == "f")["figures"]
    for load in ("single", "batch", "py_single", "py_batch"):  # wrk's and the Python client's
        assert ingest[f"{load}_per_s"] > 0, ingest
    for o in outcomes:
        if o["scenario"] in ("a1", "a10"):
            # Hookline's own CPU per delivery: a real reading, not a placeholder
            assert 0 < o["figures"]["cpu_ms_per_delivery"] < 1000, o["figures"]
    bare = results["baselines"]["bare"]
    assert set(bare) == {"1", "10"}
    for run in bare.values():
        assert run["tally"]["lost"] == 0 and run["tally"]["duplicated"] == 0
        assert run["per_second"] > 0

    text = report.read_text()
    assert "| scenario | database | figure |" in text
    for title in ("(a) throughput", "(b) latency", "(c) isolation", "(d) fan-out", "(e) backlog"):
        assert title in text
    assert "(f) ingest" in text
    assert "Hookline's CPU ms per event published and delivered" in text
