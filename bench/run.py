"""The benchmark suite, one command: `python -m bench.run [--quick] [--profile]`.

Starts its own Kafka broker and PostgreSQL on ports of their own (39092 / 54359 unless told
otherwise), measures every figure in one run so the ratios are fair, stops both at the end,
and writes the JSON, the markdown table (docs/BENCHMARKS.md), the chart and the profile.
See docs/BENCHMARKS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bench import load, profiling, report, scale, throughput
from bench.config import (
    CMD_LITE,
    CMD_MEM,
    CMD_PG,
    CMD_PROF,
    CMD_SCALE,
    DLQ,
    EVENTS,
    FULL,
    MEM_EVENTS,
    PARTITIONS,
    PASS,
    QUICK,
    Ctx,
)
from bench.proc import ENROL_CMD, Worker, kill_leftovers
from bench.services import APPEND_TIME, ROOT, RUN_DIR, Services, machine, versions


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, no targets (CI smoke)")
    p.add_argument(
        "--profile",
        nargs="?",
        const="pyinstrument",
        choices=["pyinstrument", "py-spy"],
        help="also profile a PostgreSQL end-to-end run (saved under docs/bench/)",
    )
    p.add_argument("--events", type=int, help="N, the history size (default 100,000; quick 4,000)")
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="SEGSYNC_X=V",
        help="extra setting for every worker run, e.g. SEGSYNC_BATCH_MAX_RECORDS=5000",
    )
    p.add_argument("--kafka-port", type=int, default=39092)
    p.add_argument("--pg-port", type=int, default=54359)
    p.add_argument("--no-record", action="store_true", help="do not append to docs/BENCHMARKS.md")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def _git() -> dict[str, Any]:
    def out(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = [ln for ln in out("status", "--porcelain", "--", "worker").splitlines() if ln]
    return {"head": out("rev-parse", "HEAD"), "dirty_worker_files": len(dirty)}


class Suite:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.errors: dict[str, str] = {}
        self.started = time.monotonic()
        self.done: set[str] = set()

    def step(self, name: str, fn: Callable[[], Any], needs: tuple[str, ...] = ()) -> Any:
        missing = [n for n in needs if n in self.errors or n not in self.done]
        if missing:
            self.errors[name] = f"skipped: {', '.join(missing)} did not complete"
            print(f"-- {name}: skipped ({', '.join(missing)} did not complete)", flush=True)
            return None
        print(f"-- {name} ...", flush=True)
        t = time.monotonic()
        try:
            out = fn()
        except Exception as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            return None
        self.done.add(name)
        figures = self.ctx.results.get("phases", {}).get(name, {})
        shown = {k: v for k, v in figures.items() if k not in ("samples", "client_config")}
        print(f"   {time.monotonic() - t:.1f}s {shown}", flush=True)
        return out


def run_phases(suite: Suite) -> None:
    ctx = suite.ctx
    step = suite.step
    step("history", lambda: throughput.produce_history(ctx))
    step("ceiling", lambda: throughput.ceiling(ctx), needs=("history",))
    step("ceiling_consume", lambda: throughput.ceiling(ctx, consume_only=True), needs=("history",))
    step("e2e_postgresql", lambda: throughput.e2e(ctx, "postgresql"), needs=("ceiling",))
    step("replay_postgresql", lambda: throughput.replay(ctx), needs=("e2e_postgresql",))
    step("e2e_sqlite", lambda: throughput.e2e(ctx, "sqlite"), needs=("ceiling",))
    step("scale_out", lambda: scale.scale_out(ctx), needs=("history",))
    if ctx.profile:
        step(
            "profile_postgresql",
            lambda: profiling.profiled(ctx, throughput.run_figures),
            needs=("history",),
        )
    worker: Worker | None = step(
        "load_worker", lambda: load.start_pg_worker(ctx), needs=("e2e_postgresql",)
    )
    try:
        if worker is not None:
            stream = load.LaterStream(ctx)
            sz = ctx.sizes
            # Thin first, while the worker is idle; then the busy stream goes on from it.
            step(
                "latency_thin",
                lambda: load.latency(ctx, worker, stream, "latency_thin", sz.thin_rate, sz.thin_s),
            )
            step(
                "latency",
                lambda: load.latency(ctx, worker, stream, "latency", sz.latency_rate, sz.latency_s),
            )
            step("backfill", lambda: load.backfill(ctx, worker))
    finally:
        if worker is not None and worker.alive():
            phases = ctx.results.setdefault("phases", {})
            try:  # SIGTERM: the worker finishes the batch in hand first
                run = worker.stop(timeout_s=60)
                phases.setdefault("backfill", {})["worker_peak_rss_mb"] = round(run.maxrss_mb, 1)
            except (TimeoutError, RuntimeError) as exc:
                suite.errors["load_worker_stop"] = str(exc).splitlines()[0]
                print(f"-- load worker: {exc}", flush=True)
        if worker is not None:
            ended = ctx.svc.terminate_backends("bench_pg")
            if ended:
                print(f"-- ended {ended} PostgreSQL sessions left by the load worker", flush=True)
    step("memory", lambda: load.memory(ctx))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    if args.events:
        sizes = replace(sizes, events=args.events)
    extra = dict(kv.split("=", 1) for kv in args.worker_env)
    ctx = Ctx(Services(args.kafka_port, args.pg_port), sizes, args.quick, extra, args.profile)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx.results.update(
        timestamp=stamp,
        mode="quick" if args.quick else "full",
        git=_git(),
        machine=machine(),
        versions=versions(),
        sizes=sizes.__dict__,
        worker_env_extra=extra,
    )
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    suite = Suite(ctx)
    print(f"segsync benchmarks ({ctx.results['mode']}), services on ports "
          f"{args.kafka_port} / {args.pg_port}", flush=True)  # fmt: skip
    try:
        ctx.svc.up()
        topics = {
            EVENTS: (PARTITIONS, {}),
            MEM_EVENTS: (PARTITIONS, {}),
            DLQ: (1, {}),
            ENROL_CMD: (PARTITIONS, {}),
            **{
                t: (PARTITIONS, APPEND_TIME)
                for t in (PASS, CMD_PG, CMD_LITE, CMD_PROF, CMD_MEM, CMD_SCALE)
            },
        }
        ctx.svc.create_topics(topics)
        run_phases(suite)
    except KeyboardInterrupt:
        suite.errors["interrupted"] = "KeyboardInterrupt"
    finally:
        if kill_leftovers():
            print("-- killed a worker left running by a failed phase", flush=True)
        print("-- stopping the suite's Kafka and PostgreSQL", flush=True)
        ctx.svc.down()
    ctx.results["errors"] = suite.errors
    ctx.results["suite_s"] = round(time.monotonic() - suite.started, 1)
    report.summarise(ctx)
    if args.quick:
        path = report.write_json(ctx, RUN_DIR, "quick.json")
    else:
        path = report.write_json(ctx, ctx.out_dir, "latest.json")
        png = report.chart(ctx, ctx.out_dir / "benchmarks.png")
        if not args.no_record:
            report.append_markdown(ctx)
        print(f"chart: {png}")
    print(f"results: {path} ({ctx.results['suite_s']} s)")
    report.print_figures(ctx)
    if suite.errors:
        print(f"errors: {suite.errors}", file=sys.stderr)
        return 1
    missed = [k for k, t in ctx.results.get("targets", {}).items() if t["met"] is False]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
