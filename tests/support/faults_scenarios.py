"""The fault suite's runs: a generator (tests/support/faults_gen.py) streams a history into
the broker while a *nemesis* (a fault schedule) acts on the workers or the services; then
the live workers must catch up on their own (else: stalled partitions), are stopped
gracefully, a last `--until-caught-up` sweeps up, and the checker judges the command topic.

Every run prints its report and saves it as JSON (tests/support/faults_harness.py).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.faults_gen import Shape, delivery_order, encode, evolving_history
from tests.support.faults_harness import (
    FaultReport,
    Fleet,
    Streamer,
    check_commands,
    check_enrol_commands,
    read_commands,
    sleep_random,
    stalled_partitions,
)
from tests.support.faults_services import FaultKafka, FaultPg
from tests.support.kafka_io import TopicFactory
from tests.support.reference import Ev
from tests.support.worker_proc import WorkerEnv, run_until_caught_up


@dataclass
class Plan:
    name: str
    seed: int
    events: int
    stream_s: float
    workers: int = 1
    partitions: int = 3
    chunk: int = 5  # SEGSYNC_BACKFILL_CHUNK: small, so that bulk work spans many commits
    batch: int = 200  # SEGSYNC_BATCH_MAX_RECORDS
    retry_deadline_s: int = 180
    catch_up_s: float = 300
    shape: Shape = field(default_factory=Shape)
    per_source: bool = False


@dataclass
class Run:
    """What a nemesis acts on."""

    rng: random.Random
    plan: Plan
    fleet: Fleet
    report: FaultReport
    streamer: Streamer
    t0: float

    def at(self) -> float:
        return round(time.monotonic() - self.t0, 1)


Nemesis = Callable[[Run], None]


def make_env(bootstrap: str, topics: TopicFactory, db_url: str, plan: Plan) -> WorkerEnv:
    # A consumer group of its own per run: static members (SEGSYNC_INSTANCE_ID w0, w1, ...)
    # of two runs sharing a group would fence each other.
    group = f"segsync-faults-{plan.name}-{uuid.uuid4().hex[:8]}"
    return WorkerEnv(
        bootstrap=bootstrap,
        database_url=db_url,
        input_topics=topics("fin", plan.partitions),
        command_topic=topics("fcmd", 3),
        dlq_topic=topics("fdlq", 1),
        enrollment_command_topic=topics("fenrol", 3),
        group_id=group,
        extra={
            "SEGSYNC_BACKFILL_CHUNK": str(plan.chunk),
            "SEGSYNC_BATCH_MAX_RECORDS": str(plan.batch),
            "SEGSYNC_RETRY_DEADLINE_S": str(plan.retry_deadline_s),
            # The mass-removal brake (an operator's safety net that holds big removals
            # until released) is off: the suite measures the contract's guarantees.
            **BRAKE_OFF,
            **engine_override(),
        },
    )


BRAKE_OFF = {
    "SEGSYNC_BRAKE_MAX_REMOVALS": "0",
    "SEGSYNC_BRAKE_MAX_SHARE": "0",
    "SEGSYNC_BRAKE_MIN_REMOVALS": "0",
}


def engine_override() -> dict[str, str]:
    """SEGSYNC_FAULTS_ENGINE=<a source tree> runs the workers on that tree's `worker`
    package (e.g. `git archive HEAD` unpacked somewhere) instead of the checkout's."""
    tree = os.environ.get("SEGSYNC_FAULTS_ENGINE", "")
    return {"PYTHONPATH": tree} if tree else {}


def run_faults(
    plan: Plan,
    bootstrap: str,
    topics: TopicFactory,
    db_url: str,
    log_dir: Path,
    nemesis: Nemesis,
    history: list[Ev] | None = None,
) -> FaultReport:
    t0 = time.monotonic()
    rng = random.Random(plan.seed)
    report = FaultReport(plan.name, plan.seed, store=db_url.split(":", 1)[0].split("+")[0])
    w = make_env(bootstrap, topics, db_url, plan)
    if history is None:
        history = evolving_history(rng, plan.events, plan.shape)
    records = encode(rng, delivery_order(rng, history))
    report.events = len({(e.source, e.id) for e in history})
    fleet = Fleet(w, log_dir, [f"w{i}" for i in range(plan.workers)], report)
    streamer = Streamer(bootstrap, w.input_topics, records, plan.stream_s)
    try:
        for name in fleet.slots:
            fleet.start(name)
        streamer.start()
        nemesis(Run(rng, plan, fleet, report, streamer, t0))
        streamer.join_checked()
        report.records_produced = streamer.produced
        report.produce_retries = streamer.retries
        fleet.supervise()
        if not fleet.running():
            fleet.start(next(iter(fleet.slots)))
        # The live workers must get to the end on their own: what does not is stalled.
        lag = wait_caught_up(report, bootstrap, w, plan.catch_up_s, fleet)
        report.stalled_partitions = lag
        fleet.supervise()
        fleet.stop_all()
        run_until_caught_up(w, timeout=600, instance_id="w0")
        report.rebalances = fleet.count_in_logs('"partitions assigned"') or fleet.count_in_logs(
            "partitions assigned"
        )
        check_commands(report, read_commands(bootstrap, w.command_topic), history, plan.per_source)
        enrols = read_commands(bootstrap, w.enrollment_command_topic)
        check_enrol_commands(report, enrols, history, plan.per_source)
        stalled_partitions(report, bootstrap, w)
        report.stalled_partitions = sorted(set(report.stalled_partitions) | set(lag))
    finally:
        streamer.stop_requested.set()
        fleet.kill_all()
        report.finish(t0)
    return report


def wait_caught_up(
    report: FaultReport, bootstrap: str, w: WorkerEnv, timeout_s: float, fleet: Fleet
) -> list[str]:
    """Polls until the stored offsets reach the end offsets; returns what is still behind."""
    deadline = time.monotonic() + timeout_s
    while True:
        probe = FaultReport("probe", 0)
        stalled_partitions(probe, bootstrap, w)
        if not probe.stalled_partitions and probe.outbox_backlog == 0:
            return []
        if time.monotonic() >= deadline:
            report.notes.append(
                f"live workers not caught up after {timeout_s:.0f}s: "
                f"{probe.stalled_partitions}, outbox {probe.outbox_backlog}"
            )
            return probe.stalled_partitions
        fleet.supervise()
        time.sleep(1.0)


# ---------------------------------------------------------------- the nemeses


def crash_nemesis(kills: int, pause: tuple[float, float] = (0.2, 2.0)) -> Nemesis:
    """kill -9 of a random worker at a random moment, or right after it logs a state
    commit (before its publish); restart it at once or a little later (the other workers
    take its partitions meanwhile). Goes on until `kills` are done and the stream is in."""

    def act(run: Run) -> None:
        rng, fleet = run.rng, run.fleet
        while run.report.kills < kills or not run.streamer.finished:
            fleet.supervise()
            if run.report.kills >= kills:
                time.sleep(0.5)
                continue
            sleep_random(rng, *pause)
            if not fleet.running():
                continue
            name = rng.choice(fleet.running())
            if rng.random() < 0.5:
                if not fleet.kill9_after_commit(name, timeout_s=3.0):
                    fleet.kill9(name)
            else:
                fleet.kill9(name)
            if rng.random() < 0.15:
                sleep_random(rng, 0.5, 4.0)
            if name not in fleet.running():
                fleet.start(name)

    return act


def broker_nemesis(
    kafka: FaultKafka,
    pauses: int,
    restarts: int,
    pause_s: tuple[float, float] = (10, 30),
    down_s: tuple[float, float] = (2, 10),
    gap_s: tuple[float, float] = (3, 8),
) -> Nemesis:
    """SIGSTOP/SIGCONT of the broker for 10-30 s, and SIGTERM restarts on the same data."""

    def act(run: Run) -> None:
        actions = ["pause"] * pauses + ["restart"] * restarts
        run.rng.shuffle(actions)
        for a in actions:
            sleep_random(run.rng, *gap_s)
            at, t = run.at(), time.monotonic()
            if a == "pause":
                kafka.pause(run.rng.uniform(*pause_s))
            else:
                kafka.restart(run.rng.uniform(*down_s))
            run.report.outages.append(
                {"kind": f"broker {a}", "at_s": at, "seconds": time.monotonic() - t}
            )
            run.fleet.supervise()
            if run.fleet.running() and a == "pause":
                run.report.notes.append(f"worker alive after broker {a} at {at}s")

    return act


def database_nemesis(
    pg: FaultPg,
    pauses: int,
    restarts: int,
    pause_s: tuple[float, float] = (10, 30),
    down_s: tuple[float, float] = (1, 8),
    gap_s: tuple[float, float] = (3, 8),
) -> Nemesis:
    """SIGSTOP of the postmaster and its backends for 10-30 s; restarts in fast and in
    immediate mode (every backend killed mid-transaction), triggered right after a worker
    logs a state commit, i.e. while it is busy with the next batch."""

    def act(run: Run) -> None:
        actions = ["pause"] * pauses + ["restart"] * restarts
        run.rng.shuffle(actions)
        for n, a in enumerate(actions):
            sleep_random(run.rng, *gap_s)
            if a == "restart":
                _wait_for_log(run.fleet, "batch applied", 5.0)
            at, t = run.at(), time.monotonic()
            if a == "pause":
                pg.pause(run.rng.uniform(*pause_s))
                kind = "database pause"
            else:
                mode = "immediate" if n % 2 else "fast"
                pg.restart(run.rng.uniform(*down_s), mode=mode)
                kind = f"database restart ({mode})"
            run.report.outages.append({"kind": kind, "at_s": at, "seconds": time.monotonic() - t})
            run.fleet.supervise()

    return act


def _wait_for_log(fleet: Fleet, needle: str, timeout_s: float) -> bool:
    sizes = {n: s.log.stat().st_size if s.log.exists() else 0 for n, s in fleet.slots.items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for n, s in fleet.slots.items():
            if s.log.exists() and s.log.stat().st_size > sizes[n]:
                with open(s.log, "rb") as fh:
                    fh.seek(sizes[n])
                    if needle.encode() in fh.read():
                        return True
        time.sleep(0.005)
    return False


def rebalance_nemesis(actions: int, gap_s: tuple[float, float] = (1.0, 5.0)) -> Nemesis:
    """Workers start, stop (SIGTERM) and now and then die (SIGKILL) on a random schedule;
    at least one keeps running most of the time."""

    def act(run: Run) -> None:
        rng, fleet = run.rng, run.fleet
        done = 0
        while done < actions or not run.streamer.finished:
            fleet.supervise()
            sleep_random(rng, *gap_s)
            if done >= actions:
                continue
            up, down = fleet.running(), fleet.stopped()
            roll = rng.random()
            if down and (roll < 0.45 or len(up) <= 1):
                fleet.start(rng.choice(down))
            elif up and roll < 0.85:
                fleet.term(rng.choice(up))
            elif up:
                fleet.kill9(rng.choice(up))
            done += 1
        for name in fleet.stopped():
            fleet.start(name)

    return act


def quiet_nemesis(kills: int = 0) -> Nemesis:
    """Only a few kills (if any) while the stream goes in."""
    return crash_nemesis(kills, pause=(1.0, 3.0))
