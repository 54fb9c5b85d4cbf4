"""Sizes of a run, topic names, the issue's targets, and the context every phase shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.proc import Spec
from bench.services import ROOT, RUN_DIR, Services

PARTITIONS = 6
EVENTS = "bench.events"  # the multi-site history, then the latency and backfill events
PASS = "bench.passthrough"  # the ceiling's output
CMD_PG = "bench.cmd.pg"
CMD_LITE = "bench.cmd.sqlite"
CMD_PROF = "bench.cmd.profile"
CMD_SCALE = "bench.cmd.scale"  # the scale-out phase (1, 2, 3 workers)
MEM_EVENTS = "bench.mem.events"
CMD_MEM = "bench.cmd.mem"
DLQ = "bench.dlq"

DOCS = ROOT / "docs" / "bench"
BENCHMARKS_MD = ROOT / "docs" / "BENCHMARKS.md"


@dataclass(frozen=True)
class Sizes:
    events: int  # N: the history every throughput figure reads
    latency_rate: int  # offered events/s
    latency_s: float
    thin_rate: int  # offered events/s of the thin stream (a lone event goes through at once)
    thin_s: float
    backfill_users: int
    memory_users: int
    memory_cap_s: float  # the memory phase stops there and says how far it got
    drain_cap_s: float  # how long a worker may take to catch up after a load phase
    backfill_cap_s: float  # how long the suite waits for the last add of the backfill
    run_timeout_s: float  # one `segsync run --until-caught-up`
    # Runs of the passthrough ceilings and of the PostgreSQL end-to-end run; the median is
    # the figure (a single run on a shared two-core machine moved by up to a third).
    repeats: int = 1


FULL = Sizes(
    events=100_000,
    latency_rate=5_000,
    latency_s=20,
    thin_rate=500,
    thin_s=10,
    backfill_users=100_000,
    memory_users=1_000_000,
    memory_cap_s=240,
    drain_cap_s=180,
    backfill_cap_s=240,
    run_timeout_s=600,
    repeats=3,
)
QUICK = Sizes(
    events=4_000,
    latency_rate=1_000,
    latency_s=5,
    thin_rate=500,
    thin_s=5,
    backfill_users=2_000,
    memory_users=10_000,
    memory_cap_s=60,
    drain_cap_s=90,
    backfill_cap_s=90,
    run_timeout_s=180,
)


@dataclass(frozen=True)
class Target:
    label: str
    figure: str  # key in the summary
    op: str  # ">=" or "<="
    value: float
    unit: str

    def met(self, got: float | None) -> bool | None:
        if got is None:
            return None
        if self.op == ">=":
            return got >= self.value
        return got < self.value if self.op == "<" else got <= self.value


# Issue 14's targets: ratios against the same run's own ceilings, CPU, latency, backfill, memory.
TARGETS = [
    Target("end-to-end / passthrough (PostgreSQL)", "ratio_pg", ">=", 0.6, "x"),
    Target("worker CPU per event (PostgreSQL)", "cpu_pg_us", "<=", 60, "µs"),
    Target("end-to-end / passthrough (SQLite)", "ratio_sqlite", ">=", 0.4, "x"),
    Target("latency p99 at 5,000 events/s, sustained", "latency_p99_ms", "<=", 50, "ms"),
    Target("latency p99 at 500 events/s", "thin_p99_ms", "<=", 20, "ms"),
    Target("backfill of 100,000 adds", "backfill_s", "<", 8, "s"),
    Target("no-op replay / consume-only", "replay_ratio", ">=", 0.8, "x"),
    Target("peak RSS at 1M users", "memory_peak_mb", "<=", 200, "MB"),
]


@dataclass
class Ctx:
    svc: Services
    sizes: Sizes
    quick: bool
    extra_env: dict[str, str] = field(default_factory=dict)
    profile: str | None = None  # "pyinstrument" | "py-spy"
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        """Committed artefacts for full runs; scratch for quick (CI) runs."""
        return RUN_DIR if self.quick else DOCS

    def spec(
        self,
        database_url: str,
        group: str,
        command_topic: str,
        log_name: str,
        input_topic: str = EVENTS,
    ) -> Spec:
        return Spec(
            bootstrap=self.svc.bootstrap,
            database_url=database_url,
            input_topics=input_topic,
            command_topic=command_topic,
            dlq_topic=DLQ,
            group_id=group,
            log=RUN_DIR / log_name,
            extra=dict(self.extra_env),
        )

    def phase(self, name: str, figures: dict[str, Any]) -> dict[str, Any]:
        self.results.setdefault("phases", {})[name] = figures
        return figures
