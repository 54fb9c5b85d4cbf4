"""Throughput phases on the N-event history: the passthrough ceiling, segsync end to end on
PostgreSQL and SQLite, the no-op replay, and the optional profiled run.

Every rate is taken over the same window: from the consumer's first partition assignment to
"caught up" (the worker's own log lines; the passthrough's own clock), so interpreter
start-up, migrations and the group join are left out of both sides of the ratio. The wall
time of the whole process is kept too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bench import kafka_tools as kt
from bench.config import CMD_LITE, CMD_PG, EVENTS, PASS, Ctx
from bench.history import history_records
from bench.proc import Run, run_until_caught_up
from bench.services import ROOT, RUN_DIR


def produce_history(ctx: Ctx) -> None:
    gen_n = ctx.sizes.events
    _, records = history_records(gen_n)
    n, secs = kt.produce_all(ctx.svc.bootstrap, EVENTS, records)
    ctx.phase(
        "history",
        {"events": n, "produce_s": round(secs, 2), "produce_eps": round(n / secs)},
    )


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle of an even count), with every run's
    rate beside it: the figures of one real run, not a blend of several."""
    ranked = sorted(runs, key=lambda r: r["eps"])
    out = dict(ranked[(len(ranked) - 1) // 2])
    if len(runs) > 1:
        out["eps_runs"] = [r["eps"] for r in runs]
    return out


def _passthrough(ctx: Ctx, group: str, log: str, consume_only: bool) -> dict[str, Any]:
    spec = ctx.spec("sqlite:///unused.sqlite", group, PASS, log)
    env = dict(spec.env(), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bench.passthrough", "-" if consume_only else PASS],
        env=env,
        cwd=RUN_DIR,
        capture_output=True,
        text=True,
        timeout=ctx.sizes.run_timeout_s,
        check=False,
    )
    spec.log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"passthrough failed:\n{done.stderr[-2000:]}")
    d = json.loads(done.stdout.strip().splitlines()[-1])
    records = int(d["records"])
    steady = float(d["done"]) - float(d["assigned"])
    return {
        "events": records,
        "steady_s": round(steady, 2),
        "eps": round(records / steady),
        "wall_eps": round(records / (float(d["done"]) - float(d["started"]))),
        "cpu_s": round(float(d["cpu_s"]), 2),
        "cpu_us_per_event": round(float(d["cpu_s"]) / records * 1e6, 1),
        "client_config": d["config"],
    }


def ceiling(ctx: Ctx, consume_only: bool = False) -> dict[str, Any]:
    """The passthrough (consume -> produce), or with `consume_only` the same loop without the
    producer: what kafka-python itself allows a reader that writes (almost) nothing, as the
    no-op replay does. Each run reads the whole history under a consumer group of its own;
    the median run is the ceiling."""
    name = "ceiling_consume" if consume_only else "ceiling"
    runs = [
        _passthrough(ctx, f"bench-{name}-{i}", f"{name}-{i}.log", consume_only)
        for i in range(ctx.sizes.repeats)
    ]
    return ctx.phase(name, median_of(runs))


def run_figures(run: Run, events: int) -> dict[str, Any]:
    steady = run.steady_s if run.steady_s else run.wall_s
    commands = run.totals.get("commands.add", 0) + run.totals.get("commands.remove", 0)
    return {
        "events": events,
        "steady_s": round(steady, 2),
        "wall_s": round(run.wall_s, 2),
        "eps": round(events / steady),
        "wall_eps": round(events / run.wall_s),
        "commands": commands,
        "duplicates": run.totals.get("events.duplicate", 0),
        "dlq": run.totals.get("events.dlq", 0),
        "peak_rss_mb": round(run.maxrss_mb, 1),
        "cpu_s": round(run.cpu_s, 2),
        # CPU of the worker process only (PostgreSQL's own work is not in it), start-up
        # included: steadier than wall-clock rates on a shared machine.
        "cpu_us_per_event": round(run.cpu_s / events * 1e6, 1),
    }


def _sqlite_url(name: str) -> str:
    path = RUN_DIR / name
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    return f"sqlite:///{path}"


def e2e(ctx: Ctx, backend: str) -> dict[str, Any]:
    """One run on SQLite; on PostgreSQL `repeats` runs, each on a new database, the median
    run the figure. The last run keeps the names the later phases resume from."""
    repeats = ctx.sizes.repeats if backend == "postgresql" else 1
    runs = []
    for i in range(repeats):
        last = i == repeats - 1
        suffix = "" if last else f"-{i}"
        if backend == "postgresql":
            url, cmd = ctx.svc.create_database("bench_pg"), CMD_PG
        else:
            url, cmd = _sqlite_url("bench.sqlite"), CMD_LITE
        spec = ctx.spec(url, f"bench-{backend}{suffix}", cmd, f"e2e-{backend}{suffix}.log")
        run = run_until_caught_up(spec, ctx.sizes.run_timeout_s)
        runs.append(run_figures(run, ctx.sizes.events))
    figures = median_of(runs)
    ceiling_eps = ctx.results["phases"]["ceiling"]["eps"]
    figures["ratio_to_ceiling"] = round(figures["eps"] / ceiling_eps, 3)
    return ctx.phase(f"e2e_{backend}", figures)


def replay(ctx: Ctx) -> dict[str, Any]:
    """A new consumer group on the PostgreSQL store that already applied everything; each
    of the `repeats` runs a group of its own, the median run the figure."""
    runs = []
    for i in range(ctx.sizes.repeats):
        suffix = f"-{i}" if i else ""
        before = kt.total(kt.end_offsets(ctx.svc.bootstrap, [CMD_PG]))
        spec = ctx.spec(
            ctx.svc.pg_url("bench_pg"),
            f"bench-replay{suffix}",
            CMD_PG,
            f"replay-postgresql{suffix}.log",
        )
        run = run_until_caught_up(spec, ctx.sizes.run_timeout_s)
        figures = run_figures(run, ctx.sizes.events)
        figures["new_commands_on_topic"] = (
            kt.total(kt.end_offsets(ctx.svc.bootstrap, [CMD_PG])) - before
        )
        runs.append(figures)
    figures = median_of(runs)
    # A replay must publish nothing: every run's count, not only the median run's.
    figures["new_commands_on_topic"] = sum(r["new_commands_on_topic"] for r in runs)
    return ctx.phase("replay_postgresql", figures)
