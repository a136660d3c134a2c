"""The results as markdown: the machine, the baselines, one table of figures with their ratios
and targets, and how each figure was taken."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.baselines import Baselines, Run
from bench.scenarios import Outcome, Sizes

SATURATED = 0.9  # (b), (c): below this share of the offered rate the API did not keep up
TITLES = {
    "a1": "(a) throughput, 1 subscription",
    "a10": "(a) throughput, 10 subscriptions",
    "b": "(b) latency at a steady rate",
    "c": "(c) isolation, 20 % dead endpoints",
    "d": "(d) fan-out",
    "e": "(e) backlog",
    "f": "(f) ingest",
    "g": "(g) isolation, 50 dead endpoints beside 10 healthy",
}


@dataclass(frozen=True, kw_only=True)
class Row:
    scenario: str
    db: str
    figure: str
    value: str
    ratios: str = ""
    target: str = ""
    met: str = ""
    check: str = ""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    label: str
    met: bool | None  # None: not measured


def _n(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def _ratio(value: float, base: float | None, unit: str = "x") -> str:
    if not base or math.isnan(value):
        return "n/a"
    r = value / base
    return f"{r:.0%}" if unit == "%" else f"{r:.2f}x"


def _check(o: Outcome) -> str:
    t = o.tally
    if o.error or t is None:
        return "not measured"
    if not o.drained:
        return f"{t.received:,} delivered; dup {t.duplicated}; lost not measured"
    extra = f"; unexpected {t.unexpected}" if t.unexpected else ""
    return f"{t.received:,}/{t.expected:,} received; lost {t.lost}; dup {t.duplicated}{extra}"


def _met(ok: bool | None) -> str:
    return "not judged" if ok is None else ("met" if ok else "**NOT met**")


def build(
    outcomes: Sequence[Outcome], base: Baselines, sizes: Sizes
) -> tuple[list[Row], list[Verdict]]:
    """The table's rows and every target's verdict (targets apply to SQLite, and to
    PostgreSQL's throughput)."""
    rows: list[Row] = []
    verdicts: list[Verdict] = []
    b_of = {o.db: o for o in outcomes if o.scenario == "b" and not o.error}
    for o in outcomes:
        title = TITLES[o.scenario]
        check = _check(o)

        def add(figure: str, value: str, ratios: str = "", target: str = "",
                ok: bool | None = None, *, o: Outcome = o, title: str = title,
                check: str = check) -> None:  # fmt: skip
            met = _met(ok) if target else ""
            rows.append(Row(scenario=title, db=o.db, figure=figure, value=value, ratios=ratios,
                            target=target, met=met, check=check))  # fmt: skip
            if target:
                what = figure.split(" (")[0]
                label = f"{title}, {o.db}: {what} {value} (target {target})"
                verdicts.append(Verdict(label=label, met=ok))

        if o.error:
            add("error", o.error[:200])
        elif o.scenario in ("a1", "a10"):
            _throughput(o, base, add)
        elif o.scenario in ("b", "c"):
            _latency(o, b_of.get(o.db), sizes.latency_rate, add)
        elif o.scenario == "d":
            _fanout(o, add)
        elif o.scenario == "e":
            _backlog(o, base, add)
        elif o.scenario == "f":
            _ingest(o, add)
        elif o.scenario == "g":
            _many_dead(o, sizes.latency_rate, add)
    return rows, verdicts


class _Add(Protocol):
    def __call__(
        self, figure: str, value: str, ratios: str = "", target: str = "", ok: bool | None = None
    ) -> None: ...


def _throughput(o: Outcome, base: Baselines, add: _Add) -> None:
    f = o.figures
    urls = 1 if o.scenario == "a1" else 10
    rate = f["deliveries_per_s"]
    celery, bare = _rate(base.celery, urls), _rate(base.bare, urls)
    ratios = (
        f"{_ratio(rate, celery)} Celery; {_ratio(rate, _rate(base.arq, urls))} arq; "
        f"{_ratio(rate, bare, '%')} of bare aiohttp; {_ratio(rate, base.wrk_rps, '%')} of wrk"
    )
    figure = f"deliveries/s ({_n(f['deliveries'])} in {_n(f['seconds'], 1)} s)"
    if o.db == "sqlite":
        ok = None if celery is None or bare is None else rate >= 10 * celery and rate >= bare / 2
        add(figure, _n(rate), ratios, ">= 10x Celery and >= 50% of bare aiohttp", ok)
    else:
        ok = None if celery is None else rate >= 5 * celery
        add(figure, _n(rate), ratios, ">= 5x Celery (one worker process)", ok)
    if "cpu_ms_per_delivery" in f:
        add("Hookline's CPU ms per event published and delivered", _n(f["cpu_ms_per_delivery"], 3))


def _latency(o: Outcome, ref: Outcome | None, offered: float, add: _Add) -> None:
    """(b) and (c). ``ref`` is (b) on the same database, for (c)'s ratios."""
    f = o.figures
    what = "healthy " if o.scenario == "c" else ""
    achieved = f"{_n(f['publish_rate'])} ev/s published"
    add(f"{what}p50 / p95 ms ({achieved})", f"{_n(f['p50_ms'], 1)} / {_n(f['p95_ms'], 1)}")
    p99, p99_ack = f["p99_ms"], f["p99_from_ack_ms"]
    sqlite = o.db == "sqlite"
    ack_figure = f"{what}p99 ms from the 202 (delivery side only)"
    if o.scenario == "b" or ref is None:
        add(f"{what}p99 ms", _n(p99, 1), "", "<= 25 ms" if sqlite and not what else "", p99 <= 25)
        add(ack_figure, _n(p99_ack, 1))
        return
    ref_p99, ref_ack = ref.figures.get("p99_ms"), ref.figures.get("p99_from_ack_ms")
    ok: bool | None = p99 <= 1.5 * ref_p99 if ref_p99 else None
    if _saturated(o, offered) or _saturated(ref, offered):
        ok = None  # both runs measure the queue in front of the API, not the dead endpoints
    ratios = f"{_ratio(p99, ref_p99)} (b)'s p99"
    add("healthy p99 ms", _n(p99, 1), ratios, "<= 1.5x (b)'s p99" if sqlite else "", ok)
    add(ack_figure, _n(p99_ack, 1), f"{_ratio(p99_ack, ref_ack)} (b)'s")


def _many_dead(o: Outcome, offered: float, add: _Add) -> None:
    """(g): the healthy p99 beside that of the same run without the dead endpoints, taken
    just before it on the same database (the target holds on both databases)."""
    f = o.figures
    achieved = f"{_n(f['publish_rate'])} ev/s published; without them {_n(f['ref_p50_ms'], 1)}"
    add(f"healthy p50 / p95 ms ({achieved} p50)", f"{_n(f['p50_ms'], 1)} / {_n(f['p95_ms'], 1)}")
    p99, ref_p99 = f["p99_ms"], f["ref_p99_ms"]
    ok: bool | None = p99 <= 1.5 * ref_p99 if ref_p99 and not math.isnan(ref_p99) else None
    ref_saturated = f["ref_publish_rate"] < SATURATED * offered or f["ref_published"] < f["events"]
    if _saturated(o, offered) or ref_saturated:
        ok = None  # the runs measure the queue in front of the API, not the dead endpoints
    ratios = f"{_ratio(p99, ref_p99)} the run without them ({_n(ref_p99, 1)} ms)"
    add("healthy p99 ms", _n(p99, 1), ratios, "<= 1.5x the run without them", ok)
    add("healthy p99 ms from the 202 (delivery side only)", _n(f["p99_from_ack_ms"], 1))


def _saturated(o: Outcome, offered: float) -> bool:
    """The API did not keep up with the offered rate: it published less than 90 % of it, or
    some scheduled events were never sent."""
    f = o.figures
    return f.get("publish_rate", 0) < SATURATED * offered or f.get("published", 0) < f.get(
        "events", 0
    )


def _fanout(o: Outcome, add: _Add) -> None:
    f = o.figures
    last = f["last_s"]
    figure = (
        f"s until the last of {_n(f['subscriptions'])} received (first: {_n(f['first_s'], 2)} s)"
    )
    add(figure, _n(last, 2), "", "<= 2 s" if o.db == "sqlite" else "", last <= 2)


def _backlog(o: Outcome, base: Baselines, add: _Add) -> None:
    f = o.figures
    rss = f["peak_rss_mb"]
    figure = f"worker peak RSS MB ({_n(f['pending'])} pending; first {_n(f['window_s'])} s of work)"
    add(figure, _n(rss, 1), "", "<= 300 MB" if o.db == "sqlite" else "", rss <= 300)
    add("s from worker start to first delivery", _n(f["first_delivery_s"], 2))
    drain = f["drain_per_s"]
    ratios = (
        f"{_ratio(drain, _rate(base.celery, 10))} Celery; "
        f"{_ratio(drain, _rate(base.arq, 10))} arq; "
        f"{_ratio(drain, _rate(base.bare, 10), '%')} of bare aiohttp"
    )
    add("deliveries/s while draining", _n(drain), ratios)


def _ingest(o: Outcome, add: _Add) -> None:
    f = o.figures
    for key, label, goal in (
        ("single", "POST /events", 3_000),
        ("batch", "POST /events/batch", 30_000),
    ):
        rate = f[f"{key}_per_s"]
        figure = f"events/s accepted by {label} from wrk (request p99 {_n(f[f'{key}_p99_ms'])} ms)"
        add(figure, _n(rate), "", f">= {goal:,} ev/s" if o.db == "sqlite" else "", rate >= goal)
        if f"py_{key}_per_s" in f:
            figure = (
                f"events/s accepted by {label} from the harness's Python client "
                f"(request p99 {_n(f[f'py_{key}_p99_ms'])} ms)"
            )
            add(figure, _n(f[f"py_{key}_per_s"]), "", "", None)


def _rate(runs: dict[int, Run] | None, urls: int) -> float | None:
    if not runs or urls not in runs:
        return None
    return runs[urls].per_second


#: the heading of a section written by one of the standalone benchmarks (``bench.log_search``,
#: ``bench.prune``, …): the harness's report keeps these when it rewrites the page
_STANDALONE = re.compile(r"^## .*\(`python -m bench\.\w+`\)", re.MULTILINE)


def standalone_sections(page: Path) -> str:
    """The standalone benchmarks' sections of an existing report, from the first to the end."""
    if not page.exists():
        return ""
    text = page.read_text()
    found = _STANDALONE.search(text)
    return "\n" + text[found.start() :] if found else ""


def markdown(
    outcomes: Sequence[Outcome],
    base: Baselines,
    *,
    sizes: Sizes,
    machine: dict[str, str],
    command: str,
    started: str,
    minutes: float,
    smoke: bool,
    rendered_later: bool = False,
) -> str:
    rows, verdicts = build(outcomes, base, sizes)
    out: list[str] = ["# Benchmarks", ""]
    if smoke:
        out += ["**Smoke run** (tiny sizes): these figures say nothing about performance.", ""]
    out += [
        f"Measured by the harness in `bench/` on {started}, in {minutes:.1f} minutes. Every",
        "figure below is one the harness measured in that run; rerun it to refresh this page.",
        "",
        "## Reproduce",
        "",
        "```sh",
        ".venv/bin/pip install -e '.[bench]'",
        ".venv/bin/python -m bench.run          # writes docs/benchmarks.md",
        "```",
        "",
        f"This page came from `{command}`"
        + (
            ", written again later from that run's JSON with `--render`." if rendered_later else "."
        ),
        "",
        "It needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and Redis at",
        "127.0.0.1:6379, and installs nginx and wrk from Debian's packages when they are missing.",
        "`--scenarios a,b,...`, `--db sqlite|postgresql|both` and `--smoke` narrow a run;",
        "`--hookline-src DIR` measures another checkout's `src/` (e.g. `git archive` of a commit).",
        "The machine should be otherwise idle: the notes say when it was not.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        "## Baselines (same run, same nginx receiver, same body and signing)",
        "",
        "| baseline | deliveries/s | how |",
        "| --- | --- | --- |",
        *_baseline_rows(base),
        "",
        "## Results",
        "",
        "| scenario | database | figure | value | ratios | target | met? | delivery check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *[
            f"| {r.scenario} | {r.db} | {r.figure} | {r.value} | {r.ratios} | {r.target} | "
            f"{r.met} | {r.check} |"
            for r in rows
        ],
        "",
        "## Targets",
        "",
        *[f"- {_met(v.met)}: {v.label}" for v in verdicts],
        "",
    ]
    unmet = [v for v in verdicts if v.met is False]
    if unmet:
        out += [f"{len(unmet)} of {len(verdicts)} targets are not met in this run.", ""]
    notes = [f"- {TITLES[o.scenario]}, {o.db}: {n}" for o in outcomes for n in o.notes]
    if any(_saturated(o, sizes.latency_rate) for o in outcomes if o.scenario in ("b", "c")):
        notes.append(
            f"- Where (b) or (c) published under {SATURATED:.0%} of the offered "
            f"{sizes.latency_rate} ev/s, their latencies are mostly the wait for the API, and "
            "(c)'s target is not judged. The rows *from the 202* measure from each publish's "
            "answer to its receipt: the delivery side alone."
        )
    not_judged = [v for v in verdicts if v.met is None]
    if not_judged:
        notes.append(
            "- *not judged*: a baseline the target needs was not measured, or (c) could not be "
            "compared with (b) (see above)."
        )
    if base.skipped:
        notes += [f"- baseline {k} not measured: {v}" for k, v in base.skipped.items()]
    notes += [f"- baselines: {n}" for n in base.notes or []]
    if notes:
        out += ["## Notes from the run", "", *notes, ""]
    out += ["## How each figure is taken", "", *_method(sizes), ""]
    out += [
        "## What limits it",
        "",
        "Profiles of the unmet targets (py-spy on the running processes) and what they point "
        "to are in [perf/README.md](perf/README.md), one dated note per decision; they are "
        "taken by hand, not by this harness.",
        "",
    ]
    return "\n".join(out)


def _baseline_rows(base: Baselines) -> list[str]:
    skipped = base.skipped or {}
    lines = []
    if base.wrk_rps is not None:
        lines.append(
            f"| wrk against nginx | {_n(base.wrk_rps)} req/s | 1 thread, "
            f"{base.wrk_connections} connections, signed POST body, unlogged path |"
        )
    else:
        lines.append(f"| wrk against nginx | not measured | {skipped.get('wrk', '')} |")
    for name, runs, how in (
        ("bare aiohttp loop", base.bare, "no storage; one pooled session"),
        ("Celery + Redis + requests", base.celery, "prefork worker, one task per delivery"),
        ("arq + Redis + aiohttp", base.arq, "one job per delivery, one shared session"),
    ):
        if not runs:
            key = name.split()[0].lower()
            lines.append(f"| {name} | not measured | {skipped.get(key, '')} |")
            continue
        for urls, run in sorted(runs.items()):
            t = run.tally
            lines.append(
                f"| {name}, {urls} URL{'s' if urls > 1 else ''} | {_n(run.per_second)} | {how}; "
                f"concurrency {run.concurrency}; {run.deliveries:,} deliveries; "
                f"lost {t.lost}, dup {t.duplicated} |"
            )
    return lines


def _method(s: Sizes) -> list[str]:
    per_event = s.backlog_deliveries // s.backlog_subscriptions
    items = [
        "Hookline runs with its default settings plus `HOOKLINE_ALLOW_HTTP=true`, "
        "`HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8` and `HOOKLINE_LOG_LEVEL=warning`, on a fresh "
        "database per scenario: SQLite as the embedded process (`hookline serve`: API and "
        "worker in one process); PostgreSQL as `hookline migrate`, then one `hookline api` and "
        "one `hookline worker` process. Every subscription uses the `standard` profile. Before "
        "a scenario starts, one warm-up event is delivered to a subscription of its own.",
        "The receiver is nginx (one worker process) answering 200 to every POST and logging "
        "`$msec $request_uri $http_webhook_id $status`. Each subscription has its own path, so "
        "every (subscription, event id) received is counted: *lost* = published but never "
        "received, *dup* = received more than once, *unexpected* = received but never "
        "published.",
        "Receipt time is nginx's `$msec` (millisecond resolution). Publish time is the "
        "harness's `time.time()` taken when it starts the `POST /events` of that event, before "
        "waiting for a free client connection, so queueing in front of a saturated API counts. "
        "*From the 202* rows start the clock when the API answered instead.",
        f"(a) {s.throughput_events:,} events published with `POST /events/batch` (1,000 per "
        "request, one client), each to exactly one subscription: with 10 subscriptions each "
        "subscribes to its own event type and the events are spread evenly over them, so both "
        "runs make one delivery per event. deliveries/s = deliveries / (last receipt - first "
        "publish); publishing runs while the worker delivers. Hookline's CPU ms per event = "
        "the user and system CPU time of its processes (from /proc) from the first publish "
        "to the last receipt, per delivery: it does not count time spent waiting for a core, "
        "so it moves less than the rate when the machine's speed does.",
        f"(b) {s.latency_rate} events/s for {s.latency_seconds} s, open loop, single "
        "`POST /events` (at most 256 in flight), spread evenly over 10 subscriptions by event "
        "type. Events still unsent after twice the run's length are dropped and reported. "
        "Percentiles are nearest-rank.",
        "(c) as (b), but 2 of the 10 subscriptions point at a TCP listener that accepts and "
        "never answers; the percentiles are those of the 8 healthy subscriptions' deliveries.",
        "(g) (b) twice, back to back, each on a fresh database: as it is, then with 50 more "
        "subscriptions pointing at the listener that never answers, each taking every event "
        "of a type of their own, published 2 a second meanwhile (100 dead deliveries a "
        "second: each of the 50 always has more waiting than it may start). The healthy p99 "
        "is compared with the first run's.",
        f"(d) {s.fanout_subscriptions:,} subscriptions (created through the API beforehand) to "
        "one event type, then one `POST /events`; time from that publish to the last receipt.",
        f"(e) {s.backlog_subscriptions} subscriptions x {per_event:,} events published with "
        f"`hookline api` alone (no worker), so {s.backlog_deliveries:,} deliveries are pending; "
        "the API stops and `hookline worker` starts. First delivery = first receipt - worker "
        "start. Peak RSS = the worker's VmHWM from /proc, read every 0.1 s until "
        f"{s.backlog_window_s:g} s after the first delivery; the backlog is not drained.",
        f"(f) {s.ingest_seconds:g} s of `POST /events` from {s.ingest_single_clients} "
        f"closed-loop clients, then {s.ingest_seconds:g} s of `POST /events/batch` (1,000 "
        f"events each) from {s.ingest_batch_clients} clients, each load sent twice: first by "
        "the harness's Python client (aiohttp, one event loop), then by wrk (one thread, "
        "a Lua script making every event id unique; `bench/wrk_load.py`). The targets are "
        "judged on wrk's figures: the Python client used about 40 % of a core at 2,500 "
        "publishes/s and set the pace itself, as a Python receiver would in (a). Every event "
        "routes to one subscription, so the worker delivers meanwhile (on SQLite, in the same "
        "process).",
        "Baselines: the bare aiohttp loop and Celery sign the same body with "
        "`hookline.core.profiles` (the `standard` profile). The bare loop runs at Hookline's "
        "effective concurrency: 16 for one subscription (the per-subscription in-flight cap) "
        f"and 160 for ten, {s.bare_deliveries:,} deliveries each. Celery runs a prefork worker "
        f"of 16 processes on {s.celery_deliveries:,} deliveries; its time includes enqueueing "
        "(one `delay()` per delivery) from the harness.",
        "The arq baseline is the async stack a Python team would build instead: an arq worker "
        "(one process) on Redis, one job per delivery, one shared aiohttp session, retries "
        "with backoff; `max_jobs` is the bare loop's concurrency (16 for one URL, 160 for ten), "
        f"{s.arq_deliveries:,} deliveries each; its time includes enqueueing (one "
        "`enqueue_job()` per delivery) from the harness.",
        "The load generator, nginx and Hookline share the machine's cores.",
    ]
    return [f"- {item}" for item in items]
