"""Phases with a long-running worker: latency at a steady offered load, the 100,000-user
backfill, and peak memory with state for 1,000,000 users.

"Visible on the command topic" is the broker's append time of the command: the command
topics are created with message.timestamp.type=LogAppendTime, so each record carries the
moment the broker appended it (ms resolution), and the suite reads them back afterwards
instead of racing the worker for CPU with a live reader.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import orjson

from bench import kafka_tools as kt
from bench.config import CMD_MEM, CMD_PG, EVENTS, MEM_EVENTS, PARTITIONS, Ctx
from bench.history import (
    backfill_link,
    backfill_preload,
    encode,
    history_records,
    memory_events_total,
    memory_history,
)
from bench.lms import LmsProducer
from bench.proc import Worker


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[i]


def _caused_by(value: bytes | None) -> tuple[str, str] | None:
    if not value:
        return None
    cmd = orjson.loads(value)
    return str(cmd["data"]["caused_by"]), str(cmd["type"])


def start_pg_worker(ctx: Ctx) -> Worker:
    """The PostgreSQL worker of the end-to-end run, resumed (its store is at the end)."""
    spec = ctx.spec(ctx.svc.pg_url("bench_pg"), "bench-postgresql", CMD_PG, "load-postgresql.log")
    w = Worker(spec, until_caught_up=False)
    w.wait_assigned()
    kt.wait_caught_up(ctx.svc.bootstrap, spec.group_id, [EVENTS], ctx.sizes.drain_cap_s, w.alive)
    return w


class LaterStream:
    """The same LMS, later: the history's own generator (rebuilt: it is deterministic) goes
    on with newer times and its links known, so new links get new ids and link deletions
    hit live links. (A fresh generator re-used the history's link ids: every "new" link
    moved an existing one, 0.8 commands per event instead of the history's 0.2.) The thin
    and the busy latency phases take their events from it in turn."""

    def __init__(self, ctx: Ctx) -> None:
        self.gen, _ = history_records(ctx.sizes.events)
        self.gen.prefix = "lat"
        self.gen.clock_us += 10**12
        self.rng = random.Random(12)

    def take(self, n: int) -> list[tuple[str, Any]]:
        return [(ev.id, encode(ev, binary=self.rng.random() < 0.2)) for ev in self.gen.events(n)]


def latency(
    ctx: Ctx, w: Worker, stream: LaterStream, name: str, rate: int, seconds: float
) -> dict[str, Any]:
    s = ctx.sizes
    boot = ctx.svc.bootstrap
    n = int(rate * seconds)
    records = stream.take(n)
    cmd_start = kt.end_offsets(boot, [CMD_PG])
    sent_at, offered_s = kt.produce_paced(boot, EVENTS, records, rate)
    drained = True
    try:
        drain = kt.wait_caught_up(boot, w.spec.group_id, [EVENTS], s.drain_cap_s, w.alive)
    except TimeoutError:
        drained, drain = False, s.drain_cap_s
    cmd_end = kt.end_offsets(boot, [CMD_PG])
    first_seen: dict[str, float] = {}
    append_time = [True]

    def on_record(r: Any) -> None:
        got = _caused_by(r.value)
        if got is None or got[0] not in sent_at:
            return
        append_time[0] = append_time[0] and r.timestamp_type == 1
        t = r.timestamp / 1000
        first_seen[got[0]] = min(first_seen.get(got[0], t), t)

    commands = kt.read_range(boot, cmd_start, cmd_end, on_record)
    lat = sorted((first_seen[e] - sent_at[e]) * 1000 for e in first_seen)
    return ctx.phase(
        name,
        {
            "offered_events": n,
            "offered_rate": rate,
            "achieved_offer_rate": round(n / offered_s),
            "commands": commands,
            "events_with_commands": len(lat),
            "p50_ms": round(_pct(lat, 0.50), 1),
            "p95_ms": round(_pct(lat, 0.95), 1),
            "p99_ms": round(_pct(lat, 0.99), 1),
            "max_ms": round(lat[-1], 1) if lat else None,
            "drain_after_offer_s": round(drain, 2),
            # Kept up: caught up within a few seconds of the offer's end (no backlog built).
            "sustained": drained and drain <= max(5.0, seconds / 4),
            # Not drained: events never answered are missing, the percentiles are lower bounds.
            "drained": drained,
            "broker_append_time": append_time[0],
        },
    )


def backfill(ctx: Ctx, w: Worker) -> dict[str, Any]:
    s = ctx.sizes
    boot = ctx.svc.bootstrap
    users = s.backfill_users
    n, secs = kt.produce_all(boot, EVENTS, (encode(e) for e in backfill_preload(users)))
    t = time.monotonic()
    kt.wait_caught_up(boot, w.spec.group_id, [EVENTS], s.run_timeout_s, w.alive)
    preload_apply_s = time.monotonic() - t
    link = backfill_link()
    watcher = kt.Watcher(boot)
    try:
        cmd_start = watcher.ends([CMD_PG])
        p = LmsProducer(boot, linger_ms=0)
        key, value, headers = encode(link)
        sent = time.time()
        p.send(EVENTS, key, value, headers)
        p.flush(30)
        p.close()
        deadline = time.monotonic() + s.backfill_cap_s
        while kt.total(watcher.ends([CMD_PG])) - kt.total(cmd_start) < users:
            if time.monotonic() > deadline or not w.alive():
                break
            time.sleep(0.05)
        cmd_end = watcher.ends([CMD_PG])
    finally:
        watcher.close()
    adds: list[float] = []

    def on_record(r: Any) -> None:
        got = _caused_by(r.value)
        if got == (link.id, "lms.group.member.add"):
            adds.append(r.timestamp / 1000)

    kt.read_range(boot, cmd_start, cmd_end, on_record)
    adds.sort()
    done = len(adds) >= users
    return ctx.phase(
        "backfill",
        {
            "users": users,
            "preload_events": n,
            "preload_produce_s": round(secs, 2),
            "preload_apply_s": round(preload_apply_s, 2),
            "preload_apply_eps": round(n / preload_apply_s) if preload_apply_s else None,
            "adds_seen": len(adds),
            "complete": done,
            "first_add_s": round(adds[0] - sent, 3) if adds else None,
            "seconds": round(adds[users - 1] - sent, 3) if done else None,
            "adds_per_s": round(users / (adds[users - 1] - sent)) if done else None,
        },
    )


def _slope_per_100k_users(samples: list[tuple[float, int, float]], users_per_event: float) -> float:
    """Least-squares slope of RSS over users in the store, second half of the samples."""
    pts = [(c * users_per_event, r) for _, c, r in samples[len(samples) // 2 :] if r > 0]
    if len(pts) < 3:
        return 0.0
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((x - mx) ** 2 for x, _ in pts)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in pts) / var * 100_000


def memory(ctx: Ctx) -> dict[str, Any]:
    """A fresh store; the worker consumes while the suite produces state for N users (the
    producer is the slower side once the engine is fast). Stops at caught-up or at the cap
    and says how many users the worker had reached."""
    s = ctx.sizes
    boot = ctx.svc.bootstrap
    url = ctx.svc.create_database("bench_memory")
    spec = ctx.spec(url, "bench-memory", CMD_MEM, "memory-postgresql.log", input_topic=MEM_EVENTS)
    w = Worker(spec, until_caught_up=False)
    w.wait_assigned()
    baseline = w.rss_mb()
    total_events = memory_events_total(s.memory_users)
    samples: list[tuple[float, int, float]] = []  # (seconds, events consumed, RSS MB)
    stop = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        watcher = kt.Watcher(boot, spec.group_id)
        try:
            while not stop.is_set():
                ends = {(MEM_EVENTS, p): 0 for p in range(PARTITIONS)}
                consumed = kt.total(watcher.committed(ends))
                samples.append((time.monotonic() - start, consumed, w.rss_mb()))
                stop.wait(1.0)
        finally:
            watcher.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    events = (encode(e) for e in memory_history(s.memory_users))
    produced, produce_s = kt.produce_all(boot, MEM_EVENTS, events)
    left = s.memory_cap_s - (time.monotonic() - start)
    caught_up = True
    try:
        kt.wait_caught_up(boot, spec.group_id, [MEM_EVENTS], max(5.0, left), w.alive)
    except TimeoutError:
        caught_up = False
    stop.set()
    sampler.join(timeout=10)
    consumed = samples[-1][1] if samples else 0
    if caught_up:
        consumed = produced
    run = w.stop(timeout_s=120)
    users = round(s.memory_users * min(1.0, consumed / total_events))
    slope = _slope_per_100k_users(samples, s.memory_users / total_events)
    extrapolated = run.maxrss_mb + max(0.0, slope) * (s.memory_users - users) / 100_000
    return ctx.phase(
        "memory",
        {
            "target_users": s.memory_users,
            "events": total_events,
            "produce_s": round(produce_s, 1),
            "caught_up": caught_up,
            "users_reached": users,
            "seconds": round(time.monotonic() - start, 1),
            "baseline_rss_mb": round(baseline, 1),
            "peak_rss_mb": round(run.maxrss_mb, 1),
            # PostgreSQL: the publisher process (ADR 0015); no state, not in the figure above.
            "publisher_peak_rss_mb": round(run.children_maxrss_mb, 1),
            # RSS growth over the second half of the run, and the peak it implies at the
            # target when the cap stopped the run first.
            "rss_mb_per_100k_users": round(slope, 2),
            "extrapolated_peak_rss_mb": None if caught_up else round(extrapolated, 1),
            "samples": [(round(t, 1), c, round(r, 1)) for t, c, r in samples],
        },
    )
