"""The summary figures, the targets, and the outputs: JSON, markdown table, PNG chart, stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.config import BENCHMARKS_MD, TARGETS, Ctx


def _get(phases: dict[str, Any], phase: str, key: str) -> Any:
    return phases.get(phase, {}).get(key)


def _runs(phases: dict[str, Any], phase: str) -> str:
    """The runs of a phase that ran more than once: " (median of 3 runs: a / b / c)"."""
    runs = _get(phases, phase, "eps_runs")
    if not runs:
        return ""
    return f" (median of {len(runs)} runs: {' / '.join(_n(r) for r in runs)} events/s)"


def summarise(ctx: Ctx) -> dict[str, Any]:
    ph = ctx.results.get("phases", {})
    backfill = _get(ph, "backfill", "seconds")
    mem_done = _get(ph, "memory", "caught_up")
    summary = {
        "ceiling_eps": _get(ph, "ceiling", "eps"),
        "consume_ceiling_eps": _get(ph, "ceiling_consume", "eps"),
        "e2e_pg_eps": _get(ph, "e2e_postgresql", "eps"),
        "ratio_pg": _get(ph, "e2e_postgresql", "ratio_to_ceiling"),
        "e2e_sqlite_eps": _get(ph, "e2e_sqlite", "eps"),
        "cpu_us_per_event": {
            name: _get(ph, phase, "cpu_us_per_event")
            for name, phase in (
                ("ceiling", "ceiling"),
                ("consume_only", "ceiling_consume"),
                ("postgresql", "e2e_postgresql"),
                ("sqlite", "e2e_sqlite"),
                ("replay", "replay_postgresql"),
            )
        },
        "ratio_sqlite": _get(ph, "e2e_sqlite", "ratio_to_ceiling"),
        "cpu_pg_us": _get(ph, "e2e_postgresql", "cpu_us_per_event"),
        "latency_p50_ms": _get(ph, "latency", "p50_ms"),
        "latency_p95_ms": _get(ph, "latency", "p95_ms"),
        "latency_p99_ms": _get(ph, "latency", "p99_ms"),
        "latency_sustained": _get(ph, "latency", "sustained"),
        "thin_p50_ms": _get(ph, "latency_thin", "p50_ms"),
        "thin_p99_ms": _get(ph, "latency_thin", "p99_ms"),
        "backfill_s": backfill,
        "replay_eps": _get(ph, "replay_postgresql", "eps"),
        "replay_ratio": _ratio(
            _get(ph, "replay_postgresql", "eps"), _get(ph, "ceiling_consume", "eps")
        ),
        "memory_peak_mb": _get(ph, "memory", "peak_rss_mb") if mem_done else None,
        "memory_peak_mb_partial": None if mem_done else _get(ph, "memory", "peak_rss_mb"),
        "memory_users_reached": _get(ph, "memory", "users_reached"),
        "scale_out": {
            k: {
                "eps": v.get("eps"),
                "cpu_us_per_event": v.get("cpu_us_per_event"),
                "retried_batches": v.get("retried_batches"),
            }
            for k, v in ph.get("scale_out", {}).items()
        },
    }
    if not ctx.quick:
        ctx.results["targets"] = {
            t.figure: {"target": f"{t.op} {t.value:g} {t.unit}", "met": t.met(summary[t.figure])}
            for t in TARGETS
        }
        if _get(ph, "backfill", "complete") is False:  # not done within the cap: a miss
            ctx.results["targets"]["backfill_s"]["met"] = False
        if _get(ph, "latency", "sustained") is False:  # a queue, not the pipeline: a miss
            ctx.results["targets"]["latency_p99_ms"]["met"] = False
    ctx.results["summary"] = summary
    return summary


def _ratio(a: Any, b: Any) -> float | None:
    return round(float(a) / float(b), 3) if a and b else None


def _n(x: Any, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        text = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.1f}" if abs(x) >= 10 else f"{x:,.2f}"
    else:
        text = f"{int(x):,}"
    return f"{text} {unit}".strip()


def _met(ctx: Ctx, figure: str) -> str:
    got = ctx.results.get("targets", {}).get(figure, {}).get("met")
    return {True: "✅", False: "❌"}.get(got, "—")


def markdown(ctx: Ctx) -> str:
    r, ph = ctx.results, ctx.results.get("phases", {})
    m, v, s = r["machine"], r["versions"], r["summary"]
    lat = ph.get("latency", {})
    thin = ph.get("latency_thin", {})
    mem = ph.get("memory", {})
    bf = ph.get("backfill", {})
    sizes = r["sizes"]
    git = r.get("git", {})
    sustained = ""
    if not lat.get("drained", True):
        sustained = f" (lower bounds: not caught up {_n(lat.get('drain_after_offer_s'))} s after)"
    elif not lat.get("sustained", True):
        sustained = f" (fell behind: caught up {_n(lat.get('drain_after_offer_s'))} s after)"
    mem_note = (
        f"{_n(mem.get('peak_rss_mb'), 'MB')} (baseline {_n(mem.get('baseline_rss_mb'), 'MB')}; "
        f"publisher process {_n(mem.get('publisher_peak_rss_mb'), 'MB')} more)"
        if mem.get("caught_up")
        else f"not reached: {_n(mem.get('users_reached'))} users in {_n(mem.get('seconds'))} s, "
        f"peak {_n(mem.get('peak_rss_mb'), 'MB')}, "
        f"{_n(mem.get('rss_mb_per_100k_users'))} MB per 100k users "
        f"→ ≈ {_n(mem.get('extrapolated_peak_rss_mb'), 'MB')} at the target"
    )
    bf_note = (
        _n(bf.get("seconds"), "s")
        if bf.get("complete")
        else f"incomplete: {_n(bf.get('adds_seen'))} adds on the topic after "
        f"{_n(sizes.get('backfill_cap_s'))} s"
    )
    replay_runs = _runs(ph, "replay_postgresql")
    rows = [
        (
            "kafka-python passthrough (ceiling)",
            _n(s["ceiling_eps"], "events/s") + _runs(ph, "ceiling"),
            "—",
            "—",
        ),
        (
            "segsync end-to-end, PostgreSQL",
            f"{_n(s['e2e_pg_eps'], 'events/s')} = {_n(s['ratio_pg'])}x ceiling"
            + _runs(ph, "e2e_postgresql"),
            "≥ 0.6x",
            _met(ctx, "ratio_pg"),
        ),
        (
            "segsync end-to-end, SQLite",
            f"{_n(s['e2e_sqlite_eps'], 'events/s')} = {_n(s['ratio_sqlite'])}x ceiling",
            "≥ 0.4x",
            _met(ctx, "ratio_sqlite"),
        ),
        (
            "CPU per event (process only): passthrough / consume-only / PG / SQLite / replay",
            " / ".join(_n(v) for v in s["cpu_us_per_event"].values()) + " µs",
            "PG ≤ 60 µs",
            _met(ctx, "cpu_pg_us"),
        ),
        (
            f"latency p50 / p95 / p99 at {_n(lat.get('offered_rate'))} events/s offered",
            f"{_n(lat.get('p50_ms'))} / {_n(lat.get('p95_ms'))} / {_n(lat.get('p99_ms'))} ms"
            + sustained,
            "p99 ≤ 50 ms, sustained",
            _met(ctx, "latency_p99_ms"),
        ),
        (
            f"latency p50 / p95 / p99 at {_n(thin.get('offered_rate'))} events/s offered",
            f"{_n(thin.get('p50_ms'))} / {_n(thin.get('p95_ms'))} / {_n(thin.get('p99_ms'))} ms"
            + ("" if thin.get("sustained", True) else " (fell behind)"),
            "p99 ≤ 20 ms",
            _met(ctx, "thin_p99_ms"),
        ),
        (
            f"backfill: link over {_n(sizes['backfill_users'])} users → last add on topic",
            bf_note,
            "< 8 s",
            _met(ctx, "backfill_s"),
        ),
        (
            "no-op replay (new group, same PostgreSQL store)",
            f"{_n(s['replay_eps'], 'events/s')} = {_n(s['replay_ratio'])}x the kafka-python "
            f"consume-only ceiling, {_n(s['consume_ceiling_eps'], 'events/s')}"
            + _runs(ph, "ceiling_consume")
            + ("; replay" + replay_runs if replay_runs else ""),
            "≥ 0.8x",
            _met(ctx, "replay_ratio"),
        ),
        (
            "scale-out on one PostgreSQL, 6 partitions: 1 / 2 / 3 workers",
            " · ".join(
                f"{k}: {_n(v['eps'], 'events/s')}, {_n(v['cpu_us_per_event'])} µs CPU/event, "
                f"{_n(v.get('retried_batches'))} batches redone"
                for k, v in s.get("scale_out", {}).items()
            )
            or "—",
            "figure only",
            "—",
        ),
        (
            f"peak RSS of the worker, state for {_n(sizes['memory_users'])} users",
            mem_note,
            "≤ 200 MB",
            _met(ctx, "memory_peak_mb"),
        ),
    ]
    dirty = git.get("dirty_worker_files")
    head = f"`{git.get('head', '?')[:10]}`" + (
        f" + {dirty} uncommitted files in worker/" if dirty else ""
    )
    lines = [
        f"### {r['timestamp']} — {r['mode']}, N = {_n(sizes['events'])} events — {head}",
        "",
        f"Machine: {m['nproc']} x {m['cpu']}, {m['memory_gib']} GiB, load average at start "
        f"{' / '.join(str(x) for x in m['loadavg_at_start'])} (shared machine: figures are noisy,"
        " compare the ratios).  ",
        f"Versions: Python {v['python']} · kafka-python {v['kafka-python']} · SQLAlchemy "
        f"{v['sqlalchemy']} · psycopg {v['psycopg']} · pydantic {v['pydantic']} · Kafka "
        f"{v['kafka']} · PostgreSQL {v['postgresql']} · SQLite {v['sqlite']}"
        + (f" · extra worker env {r['worker_env_extra']}" if r.get("worker_env_extra") else ""),
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    return "\n".join(lines)


def append_markdown(ctx: Ctx) -> None:
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    BENCHMARKS_MD.write_text(text.rstrip("\n") + "\n\n" + markdown(ctx))


def write_json(ctx: Ctx, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(ctx.results, indent=2, default=str) + "\n")
    return path


def chart(ctx: Ctx, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no chart)")
        return None
    s, ph = ctx.results["summary"], ctx.results.get("phases", {})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    names = ["passthrough", "segsync PG", "segsync SQLite", "consume only", "replay PG"]
    keys = ["ceiling_eps", "e2e_pg_eps", "e2e_sqlite_eps", "consume_ceiling_eps", "replay_eps"]
    vals = [float(s.get(k) or 0) for k in keys]
    ax = axes[0]
    bars = ax.bar(names, vals, color=["#888", "#1f77b4", "#2ca02c", "#bbb", "#9467bd"])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in vals], fontsize=8)
    if s["ceiling_eps"]:
        ceiling_line = 0.6 * float(s["ceiling_eps"])
        ax.axhline(ceiling_line, color="red", ls="--", lw=1, label="target: 0.6 x passthrough")
    ax.set_title("Throughput (events/s)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    lat = ph.get("latency", {})
    ax = axes[1]
    lnames = ["p50", "p95", "p99", "max"]
    lvals = [float(lat.get(f"{k}_ms") or 0) for k in lnames]
    bars = ax.bar(lnames, lvals, color="#ff7f0e")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in lvals], fontsize=8)
    ax.axhline(50, color="red", ls="--", lw=1, label="p99 target 50 ms")
    ax.set_yscale("log")
    ax.set_title(f"Latency at {lat.get('offered_rate', '?')} events/s (ms, log)")
    ax.legend(fontsize=8)
    mem = ph.get("memory", {})
    ax = axes[2]
    samples = mem.get("samples") or []
    total = float(mem.get("events") or 1)
    users = float(mem.get("target_users") or 0)
    ax.plot([c / total * users for _, c, _ in samples], [r for _, _, r in samples], color="#d62728")
    ax.axhline(200, color="red", ls="--", lw=1, label="200 MB target")
    ax.set_xlabel("users in the store")
    ax.set_ylim(bottom=0)
    ax.ticklabel_format(axis="x", style="plain")
    ax.set_title("Worker RSS (MB)")
    ax.legend(fontsize=8)
    fig.suptitle(f"segsync benchmarks {ctx.results['timestamp']} ({ctx.results['mode']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_figures(ctx: Ctx) -> None:
    print()
    print(markdown(ctx))
