"""A batch longer than max.poll.interval.ms (issue 12, item 15): a link created over many
users is recomputed in chunks; between chunks the worker polls (one record, then seeks back),
so the group keeps it as a member. Through the real console script, with a small
SEGSYNC_MAX_POLL_INTERVAL_MS and a backfill that takes several times longer.

Before, the consumer left the group mid-batch ("poll timeout has expired"), rejoined, was
assigned its partitions again and applied the same records a second time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.histories import T0, to_record
from tests.support.kafka_io import TopicFactory, consume_all, produce
from tests.support.reference import Ev, check, desired
from tests.support.worker_logs import log_lines
from tests.support.worker_proc import WorkerEnv, start, stop, wait_until

USERS = 3000
INTERVAL_MS = 1000
S = "site"


def backfill_history() -> list[Ev]:
    evs: list[Ev] = []
    for i in range(USERS):
        u = f"u{i:05d}"
        at = T0 + i
        evs.append(
            Ev(S, f"e{i}", "lms.enrollment.created", at, (("user_id", u), ("course_id", "c1")))
        )
        evs.append(
            Ev(S, f"m{i}", "lms.segment.member.added", at, (("user_id", u), ("segment_id", "S1")))
        )
    link = (("link_id", "L1"), ("course_id", "c1"), ("segment_id", "S1"), ("group_id", "g1"))
    evs.append(Ev(S, "link", "lms.segment_group_link.created", T0 + 10 * USERS, link))
    return evs


def test_a_batch_longer_than_max_poll_interval_keeps_its_partitions(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str, tmp_path: Path
) -> None:
    w = WorkerEnv(
        bootstrap=kafka_bootstrap,
        database_url=db_url,
        input_topics=topic_factory("in", 1),
        command_topic=topic_factory("cmd", 1),
        dlq_topic=topic_factory("dlq", 1),
        enrollment_command_topic=topic_factory("enrol", 1),
        extra={
            # The smallest interval the settings allow, and 1,500 chunks, each committed and
            # published: ~6 ms a chunk on a fast machine is still ~9 s, several intervals.
            "SEGSYNC_MAX_POLL_INTERVAL_MS": str(INTERVAL_MS),
            "SEGSYNC_BACKFILL_CHUNK": "2",
        },
    )
    history = backfill_history()
    log = tmp_path / "worker.log"

    def batches() -> list[dict[str, Any]]:
        return log_lines(log, "batch applied")

    def left_group() -> int:  # kafka-python's heartbeat thread says so when it gives up
        return log.read_text(errors="replace").count("poll timeout has expired")

    # The members first, in batches of their own; the link last, alone in its batch.
    produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in history[:-1]])
    proc = start(w, log=log)
    try:
        assert wait_until(lambda: sum(d["records"] for d in batches()) == 2 * USERS, 120)
        time.sleep(1)
        assigned, left = len(log_lines(log, "partitions assigned")), left_group()
        produce(kafka_bootstrap, w.input_topics, [to_record(history[-1])])
        started = time.monotonic()
        assert wait_until(lambda: batches()[-1]["commands"] == USERS, 600), log.read_text()[-3000:]
        took = time.monotonic() - started
        time.sleep(3)  # a rejoin after the batch would show now
    finally:
        code = stop(proc)
    assert code == 0
    assert took > 3 * INTERVAL_MS / 1000, (
        f"the batch took {took:.1f}s: not longer than max.poll.interval.ms"
    )
    # The group never took the partition away during the long batch.
    assert left_group() == left, log.read_text()[-3000:]
    assert len(log_lines(log, "partitions assigned")) == assigned, log.read_text()[-3000:]
    assert sum(d["records"] for d in batches()) == len(history)  # no record applied twice
    got = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic, 60)]
    verdict = check(got, desired(history))
    assert verdict.violations == [] and verdict.unique_commands == USERS
    assert len(got) == USERS  # no command published twice
