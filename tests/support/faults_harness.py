"""The fault suite's machinery: a fleet of real `segsync run` processes (started, killed
with SIGKILL, stopped with SIGTERM; any exit the test did not cause is recorded and the
process restarted, as a supervisor would), a paced producer thread that streams a history
into the broker while faults happen (it retries through outages: a re-sent record is a
duplicate, which the contract makes harmless), the checker, and the report.

The checker is the contract's, measured on the command topic after de-duplication by
(source, id): alternation per pair and final agreement with the independent reference
(tests/support/reference.py), plus: every command's `caused_by` names an event of its own
source, every link it cites was created on its own source for that course and group, and
no input partition stalled (the store's offsets reach the end offsets, the outbox is empty).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.support.kafka_io import Record, consume_all
from tests.support.reference import Ev, check, check_enrol, desired, desired_enrol
from tests.support.services import REPO_ROOT
from tests.support.worker_proc import WorkerEnv, start

REPORT_DIR = Path(os.environ.get("SEGSYNC_FAULTS_REPORT_DIR") or REPO_ROOT / ".run" / "faults")
MAX_LISTED = 50


# ---------------------------------------------------------------- the report


@dataclass
class FaultReport:
    name: str
    seed: int
    store: str = "postgresql"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0
    workers: int = 1
    kills: int = 0
    kills_after_commit: int = 0
    kills_random: int = 0
    graceful_stops: int = 0
    starts: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    rebalances: int = 0
    events: int = 0
    records_produced: int = 0
    produce_retries: int = 0
    hostile_records: int = 0
    commands: int = 0
    commands_published: int = 0
    enrol_commands: int = 0  # unique enrolment commands (segment sync)
    pairs: int = 0
    desired_pairs: int = 0
    dlq_records: int = 0
    violation_count: int = 0
    violations: list[str] = field(default_factory=list)
    stalled_partitions: list[str] = field(default_factory=list)
    outbox_backlog: int = 0
    notes: list[str] = field(default_factory=list)

    def violate(self, items: Iterable[str]) -> None:
        for v in items:
            self.violation_count += 1
            if len(self.violations) < MAX_LISTED:
                self.violations.append(v)

    @property
    def ok(self) -> bool:
        return (
            self.violation_count == 0
            and not self.stalled_partitions
            and not self.unexpected_exits
            and self.outbox_backlog == 0
        )

    def render(self) -> str:
        lines = [
            f"== fault run {self.name} (seed {self.seed}, {self.store}, "
            f"{self.workers} worker(s), {self.duration_s:.0f}s) ==",
            f"kills (SIGKILL)   {self.kills} ({self.kills_after_commit} right after a "
            f"state commit, {self.kills_random} at random moments)",
            f"graceful stops    {self.graceful_stops}; starts {self.starts}; "
            f"unexpected exits {len(self.unexpected_exits)}",
            f"outages           {len(self.outages)}: "
            + ", ".join(f"{o['kind']} {o['seconds']:.0f}s" for o in self.outages),
            f"rebalances        {self.rebalances} (partition assignments seen in worker logs)",
            f"events            {self.events} unique, {self.records_produced} records "
            f"produced ({self.hostile_records} hostile, {self.produce_retries} produce retries)",
            f"commands          {self.commands} unique, {self.commands_published} published; "
            f"{self.pairs} pairs, {self.desired_pairs} desired at the end",
            f"enrol commands    {self.enrol_commands} unique (segment sync)",
            f"dlq records       {self.dlq_records}",
            f"violations        {self.violation_count}",
            f"stalled partitions {self.stalled_partitions or 'none'}; outbox backlog "
            f"{self.outbox_backlog}",
        ]
        lines += [f"  violation: {v}" for v in self.violations[:20]]
        lines += [f"  unexpected exit: {x}" for x in self.unexpected_exits[:5]]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def save(self) -> Path:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        path = REPORT_DIR / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self) | {"ok": self.ok}, indent=2) + "\n")
        return path

    def finish(self, t0: float) -> Path:
        """Print and save; returns the JSON file."""
        self.duration_s = time.monotonic() - t0
        path = self.save()
        print(f"\n{self.render()}\nreport: {path}", flush=True)
        return path


# ---------------------------------------------------------------- the fleet


@dataclass
class Slot:
    name: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None


class Fleet:
    """Worker processes by instance id (SEGSYNC_INSTANCE_ID); one log file per instance."""

    def __init__(self, w: WorkerEnv, log_dir: Path, names: Sequence[str], report: FaultReport):
        self.w = w
        self.report = report
        self.slots = {n: Slot(n, log_dir / f"worker-{n}.log") for n in names}
        report.workers = max(report.workers, len(names))

    def start(self, name: str) -> None:
        slot = self.slots[name]
        assert slot.proc is None or slot.proc.poll() is not None
        slot.proc = start(self.w, instance_id=name, log=slot.log)
        self.report.starts += 1

    def running(self) -> list[str]:
        return [n for n, s in self.slots.items() if s.proc is not None and s.proc.poll() is None]

    def stopped(self) -> list[str]:
        return [n for n in self.slots if n not in self.running()]

    def kill9(self, name: str, after_commit: bool = False) -> bool:
        """SIGKILL; False (and the exit recorded by `supervise`) if it had already exited."""
        slot = self.slots[name]
        assert slot.proc is not None
        if slot.proc.poll() is not None:
            self.supervise()
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(slot.proc.pid, signal.SIGKILL)
        slot.proc.wait()
        slot.proc = None
        self.report.kills += 1
        if after_commit:
            self.report.kills_after_commit += 1
        else:
            self.report.kills_random += 1
        return True

    def kill9_after_commit(self, name: str, timeout_s: float = 5.0) -> bool:
        """SIGKILL as soon as the worker logs `batch applied`: the state is committed and
        the outbox is (most likely) not yet published. False if no batch came in time."""
        slot = self.slots[name]
        assert slot.proc is not None
        with open(slot.log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            deadline = time.monotonic() + timeout_s
            buf = b""
            while time.monotonic() < deadline and slot.proc.poll() is None:
                buf = (buf + fh.read())[-4096:]
                if b"batch applied" in buf:
                    return self.kill9(name, after_commit=True)
                time.sleep(0.002)
        return False

    def term(self, name: str, timeout_s: float = 120) -> None:
        """SIGTERM: the worker finishes its batch, publishes, exits 0."""
        slot = self.slots[name]
        assert slot.proc is not None
        slot.proc.send_signal(signal.SIGTERM)
        try:
            rc = slot.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            slot.proc.kill()
            slot.proc.wait()
            rc = -9
        slot.proc = None
        self.report.graceful_stops += 1
        if rc != 0:
            self.report.unexpected_exits.append(
                f"{name}: SIGTERM ended with exit {rc}\n{self.tail(name)}"
            )

    def supervise(self) -> None:
        """An exit nobody asked for is a finding: record it, then restart the worker."""
        for name, slot in self.slots.items():
            if slot.proc is not None and (rc := slot.proc.poll()) is not None:
                slot.proc = None
                self.report.unexpected_exits.append(f"{name}: exit {rc}\n{self.tail(name)}")
                self.start(name)

    def stop_all(self) -> None:
        for name in self.running():
            self.term(name)

    def kill_all(self) -> None:
        """Teardown: whatever is left gets SIGKILL (not counted)."""
        for slot in self.slots.values():
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.kill()
                slot.proc.wait()
            slot.proc = None

    def tail(self, name: str, lines: int = 25) -> str:
        log = self.slots[name].log
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def count_in_logs(self, needle: str) -> int:
        return sum(
            s.log.read_text(errors="replace").count(needle)
            for s in self.slots.values()
            if s.log.exists()
        )


# ---------------------------------------------------------------- the stream


class Streamer(threading.Thread):
    """Produces `records` in slices, paced over `duration_s`, acks=all; a slice that fails
    (broker paused or down) is sent again until it is acknowledged."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        records: Sequence[Record],
        duration_s: float,
        slice_size: int = 40,
    ) -> None:
        super().__init__(name="fault-streamer", daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.records = records
        self.duration_s = duration_s
        self.slice_size = slice_size
        self.produced = 0
        self.retries = 0
        self.stop_requested = threading.Event()
        self.error: BaseException | None = None

    def _producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="segsync-faults-streamer",
            acks="all",
            linger_ms=5,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=10_000,
            max_block_ms=10_000,
        )

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by join_checked()
            self.error = exc

    def _run(self) -> None:
        producer: KafkaProducer | None = None
        abandoned: list[KafkaProducer] = []
        slices = [
            self.records[i : i + self.slice_size]
            for i in range(0, len(self.records), self.slice_size)
        ]
        t0 = time.monotonic()
        for n, part in enumerate(slices):
            due = t0 + self.duration_s * n / max(1, len(slices))
            while (wait := due - time.monotonic()) > 0 and not self.stop_requested.is_set():
                time.sleep(min(wait, 0.2))
            while True:
                try:
                    if producer is None:
                        producer = self._producer()
                    futures = [
                        producer.send(self.topic, key=k, value=v, headers=list(h))
                        for k, v, h in part
                    ]
                    producer.flush(timeout=30)
                    for f in futures:
                        f.get(timeout=30)
                    break
                except Exception:
                    self.retries += 1
                    if producer is not None:
                        # kafka-python's close() flushes first and raises while the broker
                        # is away, leaving the producer half closed (its __del__ then
                        # fails again at exit): set aside, closed once the stream is done.
                        abandoned.append(producer)
                    producer = None
                    time.sleep(1.0)
            self.produced += len(part)
        for old in abandoned:  # the broker is back: their sends end (delivered or expired)
            with contextlib.suppress(Exception):
                old.close(timeout=30)
        if producer is not None:
            producer.close(timeout=10)

    @property
    def finished(self) -> bool:
        return not self.is_alive()

    def join_checked(self, timeout: float = 900) -> None:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"the streamer did not finish in {timeout}s")
        if self.error is not None:
            raise AssertionError(f"the streamer failed: {self.error!r}") from self.error


# ---------------------------------------------------------------- the checker


def read_commands(bootstrap: str, topic: str, timeout_s: float = 180) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in consume_all(bootstrap, topic, timeout_s=timeout_s)]


def check_commands(
    report: FaultReport,
    cmds: list[dict[str, Any]],
    history: Sequence[Ev],
    per_source: bool = False,
) -> None:
    """Alternation + final agreement (all sources together, or each source against the
    reference of its own events only), `caused_by` and `link_ids` within the source."""
    report.commands_published = len(cmds)
    if per_source:
        sources = sorted({e.source for e in history} | {c["source"] for c in cmds})
        unique = 0
        want = 0
        for s in sources:
            mine = [e for e in history if e.source == s]
            expected = desired(mine)
            verdict = check([c for c in cmds if c["source"] == s], expected)
            report.violate(f"[{s}] {v}" for v in verdict.violations)
            unique += verdict.unique_commands
            want += len(expected)
        report.commands, report.desired_pairs = unique, want
    else:
        expected = desired(history)
        verdict = check(cmds, expected)
        report.violate(verdict.violations)
        report.commands, report.desired_pairs = verdict.unique_commands, len(expected)
    report.pairs = len(
        {
            (c["source"], c["data"]["course_id"], c["data"]["group_id"], c["data"]["user_id"])
            for c in cmds
        }
    )
    report.violate(_provenance(cmds, history))
    if report.violation_count:
        save_evidence(report, cmds, history)


def check_enrol_commands(
    report: FaultReport,
    cmds: list[dict[str, Any]],
    history: Sequence[Ev],
    per_source: bool = False,
) -> None:
    """The same guarantees for the enrolment commands against desired_enrol()."""
    groups = (
        [[e for e in history if e.source == s] for s in sorted({e.source for e in history})]
        if per_source
        else [list(history)]
    )
    for events in groups:
        sources = {e.source for e in events}
        mine = [c for c in cmds if c["source"] in sources] if per_source else cmds
        verdict = check_enrol(mine, desired_enrol(events))
        report.violate(f"[enrolment] {v}" for v in verdict.violations)
        report.enrol_commands += verdict.unique_commands


def save_evidence(report: FaultReport, cmds: list[dict[str, Any]], history: Sequence[Ev]) -> Path:
    """For up to 20 pairs named by a violation: their commands (topic order, duplicates
    included) and every event of their source that touches the pair's user, course,
    group, or the segments and links involved. Saved beside the report."""
    pairs: list[tuple[str, ...]] = []
    for v in report.violations:
        if v.startswith("("):
            with contextlib.suppress(Exception):
                p = tuple(str(x) for x in ast.literal_eval(v.split(":", 1)[0]))
                if p not in pairs:
                    pairs.append(p)
    out = []
    for s, course, group, user in [p for p in pairs if len(p) == 4][:20]:
        mine = [
            c
            for c in cmds
            if c["source"] == s
            and (c["data"]["course_id"], c["data"]["group_id"], c["data"]["user_id"])
            == (course, group, user)
        ]
        links = {a for c in mine for a in c["data"].get("link_ids", [])}
        segs: set[str] = set()
        for e in history:
            d = dict(e.data)
            if (
                e.source == s
                and e.type.startswith("lms.segment_group_link")
                and (
                    d.get("link_id") in links
                    or (d.get("course_id"), d.get("group_id")) == (course, group)
                )
            ):
                links.add(d["link_id"])
                if "segment_id" in d:
                    segs.add(d["segment_id"])
        events = []
        for e in history:
            d = dict(e.data)
            if e.source != s:
                continue
            if (
                (
                    d.get("user_id") == user
                    and (d.get("course_id") == course or d.get("segment_id") in segs)
                )
                or d.get("link_id") in links
                or (e.type == "lms.course.deleted" and d.get("course_id") == course)
                or (
                    e.type == "lms.group.deleted"
                    and (d.get("course_id"), d.get("group_id")) == (course, group)
                )
                or (e.type == "lms.segment.deleted" and d.get("segment_id") in segs)
            ):
                events.append({"id": e.id, "type": e.type, "time_us": e.time_us, "data": d})
        events.sort(key=lambda x: (x["time_us"], x["id"]))
        out.append({"pair": [s, course, group, user], "commands": mine, "events": events})
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{report.name}.evidence.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    report.notes.append(f"evidence of the violations: {path}")
    return path


def _provenance(cmds: list[dict[str, Any]], history: Sequence[Ev]) -> list[str]:
    ids: dict[str, set[str]] = defaultdict(set)
    placed: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for e in history:
        ids[e.source].add(e.id)
        if e.type == "lms.segment_group_link.created":
            placed[e.source].add((e.get("link_id"), e.get("course_id"), e.get("group_id")))
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for c in cmds:
        s, d = c["source"], c["data"]
        if (s, c["id"]) in seen:
            continue
        seen.add((s, c["id"]))
        where = (
            f"[{s}] command {c['id']} ({c['type']} {d['course_id']}/{d['group_id']}/{d['user_id']})"
        )
        if d.get("reason") == "resync":
            continue
        if d.get("caused_by") not in ids[s]:
            out.append(f"{where}: caused_by {d.get('caused_by')!r} is no event of its source")
        for link in d.get("link_ids", []):
            if (link, d["course_id"], d["group_id"]) not in placed[s]:
                out.append(f"{where}: link {link!r} was never created on this course/group here")
        if c["type"].endswith(".add") and not d.get("link_ids"):
            out.append(f"{where}: an add that cites no link")
    return out


def stalled_partitions(report: FaultReport, bootstrap: str, w: WorkerEnv) -> None:
    """Every input partition's stored next offset must have reached its end offset, and
    the outbox must be empty, once the worker has caught up."""
    # Plain SQL on the store's tables: the checker shares no code with the worker.
    from sqlalchemy import create_engine, text

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps: list[TopicPartition] = []
        for topic in w.input_topics.split(","):
            parts = consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        ends: dict[TopicPartition, int] = consumer.end_offsets(tps)
    finally:
        consumer.close()
    engine = create_engine(w.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT topic, partition, next_offset FROM input_offset WHERE group_id = :g"),
                {"g": w.group_id},
            )
            stored = {(r[0], r[1]): r[2] for r in rows}
            report.outbox_backlog = int(
                conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
            )
    finally:
        engine.dispose()
    for tp, end in sorted(ends.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
        at = stored.get((tp.topic, tp.partition), 0)
        if at < end:
            report.stalled_partitions.append(f"{tp.topic}:{tp.partition} at {at} of {end}")


def sleep_random(rng: random.Random, low: float, high: float) -> None:
    time.sleep(rng.uniform(low, high))
