"""Hostile-input soak (issue 12, done-when): null headers, oversized records, a group with
more links than a command names, far-future times, SDK-produced events and kill -9 right
after start, in one random multi-tenant history, on both stores. The reference must agree
(0 violations), nothing may stay in the outbox, no worker may exit on its own (no crash
loop), every bad record is dead-lettered once - also after a replay under a new group."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.support.faults_harness import (
    FaultReport,
    check_commands,
    read_commands,
    stalled_partitions,
)
from tests.support.faults_scenarios import Plan, make_env
from tests.support.faults_soak import BIG_LINKS, BIG_SOURCE, Item, make_soak
from tests.support.kafka_io import TopicFactory, consume_all
from tests.support.kcat import produce_one
from tests.support.worker_proc import WorkerEnv, run_until_caught_up, start

BIG = 8 * 1024 * 1024
MAX_LINK_IDS = 100  # the documented bound of a command's link_ids
At = tuple[int, int]  # (partition, offset) of an input record


def produce_items(bootstrap: str, topic: str, items: list[Item]) -> list[At]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=BIG)
    try:
        futures = [
            producer.send(topic, key=it.record[0], value=it.record[1], headers=it.record[2])
            for it in items
        ]
        producer.flush(timeout=120)
        return [(m.partition, m.offset) for m in (f.get(timeout=120) for f in futures)]
    finally:
        producer.close(timeout=10)


def kill_right_after_start(
    w: WorkerEnv, rng: random.Random, report: FaultReport, log: Path
) -> None:
    proc = start(w, log=log)
    report.starts += 1
    deadline = time.monotonic() + rng.uniform(0.3, 3.0)
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is not None:  # it stopped on its own: a crash (loop) on some record
        report.unexpected_exits.append(f"exit {proc.returncode} before the kill, see {log}")
        return
    proc.kill()
    proc.wait()
    report.kills += 1
    report.kills_random += 1


def locate_kcat_records(bootstrap: str, topic: str, items: list[Item]) -> dict[At, Item]:
    """kcat reports no offsets: find its records on the topic by their (unique) values."""
    wanted = {it.record[1]: it for it in items}
    return {
        (r.partition, r.offset): wanted[r.value]
        for r in consume_all(bootstrap, topic, timeout_s=120)
        if r.value in wanted and any(v is None for _, v in r.headers)
    }


def check_dlq(report: FaultReport, dlq: list[Any], where: dict[At, Item]) -> None:
    seen: Counter[At] = Counter()
    for r in dlq:
        h = dict(r.headers)
        at = (int(h["segsync_source_partition"]), int(h["segsync_source_offset"]))
        seen[at] += 1
        item = where.get(at)
        if item is None or item.expect == "ok":
            what = item.label if item else "unknown record"
            report.violate([f"{what} at {at} dead-lettered: {h.get('segsync_error')!r}"])
            continue
        original = item.record[1] or b""
        if "segsync_truncated" in h:
            if int(h["segsync_truncated"]) != len(original) or not original.startswith(
                r.value or b""
            ):
                report.violate([f"{item.label}: the cut copy is not a prefix of the record"])
        elif (r.value or b"") != original:
            report.violate([f"{item.label}: the DLQ copy is not the record unchanged"])
        if any(v is None for _, v in item.record[2]) and "segsync_null_headers" not in h:
            report.violate([f"{item.label}: null header values not named in the copy"])
    for at, item in where.items():
        if item.expect == "dlq" and at not in seen:
            report.violate([f"{item.label} at {at}: expected in the DLQ, was processed"])
    twice = sum(n - 1 for n in seen.values())
    if twice:  # a kill between the state commit and the publish re-publishes; harmless
        report.notes.append(f"{twice} DLQ copies published twice (kill -9 before the delete)")
    report.dlq_records = len(seen)


def check_bounded(report: FaultReport, cmds: list[dict[str, Any]]) -> None:
    big = [c for c in cmds if c["source"] == BIG_SOURCE]
    if not big:
        report.violate(["the big tenant got no command"])
    for c in big:
        d, n = c["data"], len(c["data"]["link_ids"])
        count = d.get("link_count")
        if n > MAX_LINK_IDS or (count is not None and not (n == MAX_LINK_IDS < count)):
            report.violate([f"{c['id']}: link_ids not bounded ({n} ids, link_count {count})"])
        elif d["link_ids"] != sorted(d["link_ids"]) or (count or 0) > BIG_LINKS:
            report.violate([f"{c['id']}: link_ids not the first of the sorted links"])
    if not any("link_count" in c["data"] for c in big):
        report.violate(["no command of the big tenant had its link_ids cut"])


def soak(
    name: str,
    seed: int,
    sizes: tuple[int, int, int],
    long: bool,
    bootstrap: str,
    topic_factory: TopicFactory,
    db_url: str,
    tmp_path: Path,
) -> None:
    events, hostile, kills = sizes
    t0 = time.monotonic()
    rng = random.Random(seed)
    store = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    report = FaultReport(f"{name}-{store}", seed, store=store)
    w = make_env(bootstrap, topic_factory, db_url, Plan(name, seed, events, stream_s=0))
    w.input_topics = topic_factory("fin", 3, configs={"max.message.bytes": str(BIG)})
    s = make_soak(rng, events, hostile, long)
    plain = [it for it in s.items if not it.via_kcat]
    by_kcat = [it for it in s.items if it.via_kcat]
    report.events, report.records_produced = len(s.history), len(s.items)
    report.hostile_records = sum(it.expect != "ok" for it in s.items)
    where: dict[At, Item] = {}
    try:
        step = len(plain) // kills + 1
        for k in range(kills):  # a slice of the stream, then a worker killed right after start
            part = plain[k * step : (k + 1) * step]
            where.update(zip(produce_items(bootstrap, w.input_topics, part), part, strict=True))
            kill_right_after_start(w, rng, report, tmp_path / f"worker-{k}.log")
        rest = plain[kills * step :]
        where.update(zip(produce_items(bootstrap, w.input_topics, rest), rest, strict=True))
        for it in by_kcat:
            produce_one(
                bootstrap,
                w.input_topics,
                it.record[0] or b"",
                it.record[1] or b"",
                it.record[2],
                partition=rng.randrange(3),
            )
        where.update(locate_kcat_records(bootstrap, w.input_topics, by_kcat))
        if len(where) != len(s.items):
            report.violate([f"{len(s.items) - len(where)} produced records not found"])
        try:
            run_until_caught_up(w, timeout=900)
        except AssertionError as exc:  # exit != 0: a crash (loop) the soak must not have
            report.unexpected_exits.append(str(exc)[-2000:])
            raise AssertionError(report.render()) from None
        check_dlq(report, consume_all(bootstrap, w.dlq_topic, timeout_s=120), where)
        cmds = read_commands(bootstrap, w.command_topic)
        check_commands(report, cmds, s.history)
        check_bounded(report, cmds)
        stalled_partitions(report, bootstrap, w)
        # A replay under a new group on the same store dead-letters nothing again.
        before = len(consume_all(bootstrap, w.dlq_topic, timeout_s=120))
        w.group_id += "-replay"
        run_until_caught_up(w, timeout=900)
        after = len(consume_all(bootstrap, w.dlq_topic, timeout_s=120))
        if after != before:
            report.violate([f"the replay dead-lettered {after - before} records again"])
    finally:
        report.finish(t0)
    assert report.ok, report.render()


def test_hostile_input_soak(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str, tmp_path: Path
) -> None:
    soak("soak-short", 71, (900, 45, 3), False, kafka_bootstrap, topic_factory, db_url, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_hostile_input_soak_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str, tmp_path: Path
) -> None:
    sizes = (12_000, 900, 25)
    soak("soak-long", 72, sizes, True, kafka_bootstrap, topic_factory, db_url, tmp_path)
