"""The benchmark harness's entry point.

    python -m bench.run [--smoke] [--scenarios a,b,c,d,e,f,g] [--db sqlite|postgresql|both]
                        [--baselines celery,arq,bare,wrk] [--out docs/benchmarks.md] [--json FILE]
                        [--no-install]

Starts nginx (installed with apt-get when missing, unless --no-install) and a black-hole
listener, takes the baselines, runs each scenario on a fresh database of each kind, prints
every figure, and writes the markdown report. Exits 1 when a delivery was lost or duplicated,
or a scenario failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import arq_env, baselines, report, scenarios, system
from bench.hookline_proc import DbKind
from bench.receiver import BlackHole, Nginx, Tally
from bench.scenarios import Context, Outcome

ALL_SCENARIOS = ("a", "b", "c", "d", "e", "f", "g")
ALL_BASELINES = ("celery", "arq", "bare", "wrk")
WRK_CONNECTIONS = 64
CELERY_CONCURRENCY = 16
PER_SUBSCRIPTION_IN_FLIGHT = 16  # Hookline's default cap; the bare loop matches it
FOREIGN_LOAD_NOTE = 0.05  # share of one core used by other processes worth a note


def _say(text: str) -> None:
    print(text, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness works")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help="comma-separated a-g")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default=None,
                   help="default: both (smoke: sqlite)")  # fmt: skip
    p.add_argument("--baselines", default=None,
                   help="celery,arq,bare,wrk (default: all; smoke: bare)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None,
                   help="markdown report (default: docs/benchmarks.md; smoke: --work)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temp)")
    p.add_argument("--render", type=Path, default=None, metavar="FILE.json",
                   help="only write the report again from a run's --json file")  # fmt: skip
    p.add_argument("--no-install", action="store_true",
                   help="fail when nginx or wrk is missing, instead of installing it")  # fmt: skip
    p.add_argument("--hookline-src", type=Path, default=None,
                   help="measure the Hookline package in this src/ folder (e.g. an exported "
                   "commit) instead of the installed one")  # fmt: skip
    return p.parse_args(argv)


def _pick(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in chosen if x not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (choose from {', '.join(allowed)})")
    return chosen


async def _baselines(ctx: Context, chosen: list[str]) -> baselines.Baselines:
    base = baselines.Baselines(skipped={})
    sz = ctx.sizes
    assert base.skipped is not None
    if "wrk" in chosen:
        base.wrk_rps = baselines.wrk(ctx.nginx, ctx.work, sz.wrk_seconds, WRK_CONNECTIONS)
        base.wrk_connections = WRK_CONNECTIONS
        _say(f"wrk: {base.wrk_rps:,.0f} req/s")
    else:
        base.skipped["wrk"] = "not chosen for this run"
    if "bare" in chosen:
        base.bare = {}
        for urls in (1, 10):
            run = await baselines.bare_aiohttp(
                ctx.nginx,
                f"/bare{urls}",
                urls,
                sz.bare_deliveries,
                PER_SUBSCRIPTION_IN_FLIGHT * urls,
            )
            base.bare[urls] = run
            _say(f"bare aiohttp, {urls} URL(s): {run.per_second:,.0f} deliveries/s; {run.tally}")
    else:
        base.skipped["bare"] = "not chosen for this run"
    # one process of Celery (prefork, 16 children) or of arq (one event loop, with the bare
    # loop's concurrency: Hookline's cap per subscription)
    queues = (
        ("celery", baselines.celery_available, baselines.celery_run, sz.celery_deliveries,
         lambda urls: CELERY_CONCURRENCY, "celery is not installed (pip install -e '.[bench]')"),
        ("arq", arq_env.available, baselines.arq_run, sz.arq_deliveries,
         lambda urls: PER_SUBSCRIPTION_IN_FLIGHT * urls,
         "arq's virtualenv could not be made (bench/arq_env.py)"),
    )  # fmt: skip
    for name, available, run_one, count, concurrency, missing in queues:
        if name not in chosen:
            base.skipped[name] = "not chosen for this run"
            continue
        if not available():
            base.skipped[name] = missing
            continue
        measured: dict[int, baselines.Run] = {}
        for urls in (1, 10):
            run = await run_one(
                ctx.nginx, f"/{name}{urls}", urls, count, concurrency(urls), ctx.work
            )
            measured[urls] = run
            _say(f"{name}, {urls} URL(s): {run.per_second:,.0f} deliveries/s; {run.tally}")
        setattr(base, name, measured)
    return base


def _plan(
    ctx: Context, db: DbKind, chosen: list[str]
) -> list[tuple[str, Callable[[], Awaitable[Outcome]]]]:
    steps: list[tuple[str, Callable[[], Awaitable[Outcome]]]] = []
    if "a" in chosen:
        steps += [("a1", lambda: scenarios.throughput(ctx, db, 1)),
                  ("a10", lambda: scenarios.throughput(ctx, db, 10))]  # fmt: skip
    if "b" in chosen:
        steps.append(("b", lambda: scenarios.latency(ctx, db, dead_fraction=0)))
    if "c" in chosen:
        steps.append(
            ("c", lambda: scenarios.latency(ctx, db, dead_fraction=scenarios.DEAD_FRACTION))
        )
    if "d" in chosen:
        steps.append(("d", lambda: scenarios.fanout(ctx, db)))
    if "e" in chosen:
        steps.append(("e", lambda: scenarios.backlog(ctx, db)))
    if "f" in chosen:
        steps.append(("f", lambda: scenarios.ingest(ctx, db)))
    if "g" in chosen:
        steps.append(("g", lambda: scenarios.isolation(ctx, db)))
    return steps


def _note_foreign_load(o: Outcome, cpu_s: float, wall_s: float) -> None:
    """Say so when other processes took a noticeable share of the machine meanwhile."""
    share = cpu_s / wall_s if wall_s > 0 else 0.0
    if share >= FOREIGN_LOAD_NOTE:
        o.notes.append(
            f"the machine was not idle: other processes used {cpu_s:,.0f} CPU-s in these "
            f"{wall_s:,.0f} s ({share:.0%} of one core)"
        )


def _show(o: Outcome) -> None:
    figures = ", ".join(f"{k}={v:,.2f}" for k, v in o.figures.items())
    _say(f"  {o.scenario} {o.db}: {figures}")
    if o.tally is not None:
        _say(f"  {o.scenario} {o.db}: {o.tally}")
    for n in o.notes:
        _say(f"  note: {n}")
    if o.error:
        _say(f"  ERROR: {o.error}")


async def _main(
    args: argparse.Namespace, work: Path
) -> tuple[list[Outcome], baselines.Baselines, scenarios.Sizes]:
    sizes = scenarios.SMOKE if args.smoke else scenarios.FULL
    db_arg = args.db or ("sqlite" if args.smoke else "both")
    dbs: list[DbKind] = ["sqlite", "postgresql"]
    if db_arg != "both":
        dbs = [d for d in dbs if d == db_arg]
    chosen = _pick(args.scenarios, ALL_SCENARIOS, "scenario")
    wanted_baselines = _pick(args.baselines or ("bare" if args.smoke else ",".join(ALL_BASELINES)),
                             ALL_BASELINES, "baseline")  # fmt: skip
    nginx = Nginx(work / "nginx")
    (work / "nginx").mkdir(parents=True, exist_ok=True)
    blackhole = BlackHole()
    nginx.start()
    blackhole.start()
    ctx = Context(work=work, nginx=nginx, blackhole=blackhole, sizes=sizes, say=_say)
    outcomes: list[Outcome] = []
    try:
        _say(f"nginx on :{nginx.port}, black hole on :{blackhole.port}, work in {work}")
        cpu0, t0 = system.foreign_cpu_s(), time.monotonic()
        base = await _baselines(ctx, wanted_baselines)
        probe = Outcome(scenario="baselines", db="")
        _note_foreign_load(probe, system.foreign_cpu_s() - cpu0, time.monotonic() - t0)
        base.notes = probe.notes
        for db in dbs:
            for name, step in _plan(ctx, db, chosen):
                _say(f"[{time.strftime('%H:%M:%S')}] {name} on {db}")
                cpu0, t0 = system.foreign_cpu_s(), time.monotonic()
                try:
                    outcome = await step()
                except Exception as exc:  # a failed scenario is reported, the others still run
                    traceback.print_exc()
                    outcome = Outcome(scenario=name, db=db, error=f"{type(exc).__name__}: {exc}")
                _note_foreign_load(outcome, system.foreign_cpu_s() - cpu0, time.monotonic() - t0)
                _show(outcome)
                outcomes.append(outcome)
    finally:
        blackhole.stop()
        nginx.stop()
    return outcomes, base, sizes


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, baselines.Run):
            data["per_second"] = obj.per_second
        return data
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _reexec_with(src: Path) -> None:
    """Run again with ``src`` first on PYTHONPATH, so that the harness and every process it
    starts import that Hookline."""
    src = src.resolve()
    if not (src / "hookline" / "__init__.py").is_file():
        raise SystemExit(f"--hookline-src: no hookline package in {src}")
    current = os.environ.get("PYTHONPATH", "")
    if current.split(os.pathsep)[0] == str(src):
        return
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), current]))
    os.execv(sys.executable, [sys.executable, "-m", "bench.run", *sys.argv[1:]])  # noqa: S606


def _render(args: argparse.Namespace) -> int:
    """The report of an earlier run, from its JSON: nothing is measured again."""
    data = json.loads(args.render.read_text())

    def run(d: dict[str, Any]) -> baselines.Run:
        fields = {k: v for k, v in d.items() if k != "per_second"}
        return baselines.Run(**{**fields, "tally": Tally(**d["tally"])})

    def runs(d: dict[str, Any] | None) -> dict[int, baselines.Run] | None:
        return None if d is None else {int(k): run(v) for k, v in d.items()}

    outcomes = [
        Outcome(**{**o, "tally": Tally(**o["tally"]) if o["tally"] else None})
        for o in data["outcomes"]
    ]
    b = data["baselines"]
    base = baselines.Baselines(
        **{**b, "bare": runs(b["bare"]), "celery": runs(b["celery"]), "arq": runs(b.get("arq"))}
    )
    sizes = scenarios.Sizes(**data["sizes"])
    started = datetime.fromisoformat(data["started"]).strftime("%Y-%m-%d %H:%M UTC")
    text = report.markdown(
        outcomes, base, sizes=sizes, machine=data["machine"], command=data["command"],
        started=started, minutes=data["minutes"], smoke=sizes == scenarios.SMOKE,
        rendered_later=True,
    )  # fmt: skip
    out = args.out or Path("docs/benchmarks.md")
    out.write_text(text + report.standalone_sections(out))
    _say(f"report written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    system.install_missing = not args.no_install
    if args.render is not None:
        return _render(args)
    if args.hookline_src is not None:
        _reexec_with(args.hookline_src)
    work = args.work or Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    outcomes, base, sizes = asyncio.run(_main(args, work))
    minutes = (time.monotonic() - t0) / 60
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    machine = system.describe()
    text = report.markdown(
        outcomes, base, sizes=sizes, machine=machine, command=command.strip(),
        started=started.strftime("%Y-%m-%d %H:%M UTC"), minutes=minutes, smoke=args.smoke,
    )  # fmt: skip
    out = args.out or (work / "benchmarks.md" if args.smoke else Path("docs/benchmarks.md"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + report.standalone_sections(out))
    _say(f"report written to {out}")
    if args.json:
        payload = {
            "outcomes": [_jsonable(o) for o in outcomes], "baselines": _jsonable(base),
            "sizes": _jsonable(sizes), "machine": machine, "command": command.strip(),
            "started": started.isoformat(), "minutes": minutes, "report": str(out),
        }  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if _clean(outcomes, base) else 1


def _clean(outcomes: list[Outcome], base: baselines.Baselines) -> bool:
    """No scenario failed, and nothing was lost or duplicated (lost only where it is measured:
    scenarios (e) and (f) stop before their deliveries are all sent)."""
    for o in outcomes:
        t = o.tally
        if o.error or t is None or t.duplicated or t.unexpected or (o.drained and t.lost):
            return False
    runs = [
        *(base.bare or {}).values(),
        *(base.celery or {}).values(),
        *(base.arq or {}).values(),
    ]
    return all(r.tally.clean for r in runs)


if __name__ == "__main__":
    sys.exit(main())
