"""Scale-out: 1, 2 and 3 workers of one group on one PostgreSQL store over the 6-partition
history, each count on a fresh database. The figure is for bigger machines: on the 2-core
box the workers share the cores with PostgreSQL and the broker, so it shows what the
design allows (partitions spread, no lost or doubled work), not a speed-up to expect here.

Rate: the history's N events over the window from the first worker's start to the last
one's exit ("caught up" covers every partition, whichever member applied it); CPU: the sum
of the workers' own CPU (PostgreSQL's is not in it), per event; and how many batch
attempts were aborted by a conflict with another worker and redone.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from bench import kafka_tools as kt
from bench.config import CMD_SCALE, Ctx
from bench.proc import Worker, log_events

COUNTS = (1, 2, 3)


def scale_out(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in COUNTS:
        url = ctx.svc.create_database(f"bench_scale_{k}")
        before = kt.total(kt.end_offsets(ctx.svc.bootstrap, [CMD_SCALE]))
        base = ctx.spec(url, f"bench-scale-{k}", CMD_SCALE, f"scale-{k}-0.log")
        specs = [replace(base, log=base.log.with_name(f"scale-{k}-{i}.log")) for i in range(k)]
        started = time.monotonic()
        workers = [Worker(s, until_caught_up=True) for s in specs]
        runs = [w.wait(ctx.sizes.run_timeout_s) for w in workers]
        window = time.monotonic() - started
        cpu = sum(r.cpu_s for r in runs)
        applied = sum(n for r in runs for name, n in r.totals.items() if name.startswith("events."))
        n = ctx.sizes.events
        out[str(k)] = {
            "workers": k,
            "window_s": round(window, 2),
            "eps": round(n / window),
            "cpu_s": round(cpu, 2),
            "cpu_us_per_event": round(cpu / n * 1e6, 1),
            "cpu_s_per_worker": [round(r.cpu_s, 2) for r in runs],
            "records_seen": applied,  # >= N: a partition moved in a rebalance is re-read
            # Batch attempts aborted and redone (a conflict with another worker, ADR 0010).
            "retried_batches": sum(
                e.get("event") == "retrying" and e.get("what") == "apply batch"
                for sp in specs
                for e in log_events(sp.log)
            ),
            "commands_on_topic": kt.total(kt.end_offsets(ctx.svc.bootstrap, [CMD_SCALE])) - before,
        }
    return ctx.phase("scale_out", out)
