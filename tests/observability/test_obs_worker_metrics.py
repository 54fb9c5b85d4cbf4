"""The worker as a subprocess with its HTTP server on: /metrics, /healthz and /readyz are
scraped while it processes a real stream, and the numbers are checked against what was sent
(and against what it published, read back from the command and DLQ topics)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.observability.obs_support import (
    bad_records,
    by_label,
    probe,
    scrape,
    total,
    unknown_records,
)
from tests.support.histories import random_history, to_record
from tests.support.kafka_io import Record, consume_all, produce
from tests.support.reference import check, desired
from tests.support.secure_kafka import free_ports
from tests.support.worker_proc import WorkerEnv, start, stop, wait_until

TopicFactory = Callable[..., str]


def test_metrics_and_probes_match_the_stream(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    rng = random.Random(6)
    port = free_ports(1)[0]
    w = WorkerEnv(
        bootstrap=kafka_bootstrap,
        database_url=pg_url,
        input_topics=topic_factory("in", 3),
        command_topic=topic_factory("cmd", 3),
        dlq_topic=topic_factory("dlq", 1),
        enrollment_command_topic=topic_factory("enrol", 3),
        extra={
            "SEGSYNC_METRICS_PORT": str(port),
            "SEGSYNC_METRICS_HOST": "127.0.0.1",
            "SEGSYNC_BATCH_MAX_RECORDS": "40",
        },
    )
    history = random_history(rng, 300, sources=2, users=10, courses=3, links=5)
    dups = rng.sample(history, 25)
    valid = history + dups
    rng.shuffle(valid)
    records: list[Record] = [to_record(e, binary=rng.random() < 0.3) for e in valid]
    records += [*bad_records(), *unknown_records()]
    sent = len(records)

    proc = start(w, log=tmp_path / "worker.log")
    try:
        assert wait_until(lambda: probe(port, "/readyz")[0] == 200, 60), probe(port, "/readyz")
        assert probe(port, "/healthz")[0] == 200
        produce(kafka_bootstrap, w.input_topics, records)

        health_codes: list[int] = []

        def consumed_all() -> bool:
            health_codes.append(probe(port, "/healthz")[0])
            return total(scrape(port), "segsync_events_consumed_total") == sent

        assert wait_until(consumed_all, 120, step=0.5), scrape(port)
        assert set(health_codes) == {200}  # alive the whole time it was working

        commands = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic)]
        want_cmds = Counter((c["type"], c["data"]["reason"]) for c in commands)
        # Enough material to compare metrics with, and the commands themselves are right
        # (their number varies with batch boundaries: changes that cancel out in a batch
        # emit nothing).
        want_final = desired(history)
        assert len(want_final) >= 10
        verdict = check(commands, want_final)
        assert not verdict.violations, verdict.violations[:5]

        def settled() -> bool:
            m = scrape(port)
            got = by_label(m, "segsync_commands_published_total", "type", "reason")
            lags = by_label(m, "segsync_consumer_lag_records", "partition")
            return (
                got == {k: float(v) for k, v in want_cmds.items()}
                and total(m, "segsync_consumer_lag_records") == 0
                and len([k for (n, k) in m if n == "segsync_consumer_lag_records"]) == 3
                and not lags
                and total(m, "segsync_outbox_backlog_records") == 0
            )

        assert wait_until(settled, 30, step=0.5), scrape(port)
        m = scrape(port)

        # events by outcome: exact for duplicates, DLQ and unknown types
        outcome = by_label(m, "segsync_events_consumed_total", "outcome")
        assert outcome[("duplicate",)] == len(dups)
        assert outcome[("dlq",)] == len(bad_records())
        assert outcome[("unknown",)] == len(unknown_records())
        assert outcome[("applied",)] + outcome.get(("stale",), 0) == len(history)
        # ... and by type: every record of a type is applied, stale or a duplicate
        per_type = by_label(m, "segsync_events_consumed_total", "type")
        assert per_type == {
            **{(t,): float(n) for t, n in Counter(e.type for e in valid).items()},
            ("other",): float(len(bad_records()) + len(unknown_records())),
        }

        # DLQ records published = on the DLQ topic
        dlq_on_topic = len(consume_all(kafka_bootstrap, w.dlq_topic))
        assert dlq_on_topic == len(bad_records())
        assert total(m, "segsync_dlq_published_total") == dlq_on_topic

        # batches: every record in exactly one batch, at most 40 per batch
        assert total(m, "segsync_batch_records_sum") == sent
        assert total(m, "segsync_batch_records_count") >= sent / 40
        assert total(m, "segsync_batch_duration_seconds_count") == total(
            m, "segsync_batch_records_count"
        )
        # every published command observed for event-time -> publish lag (times are 2023)
        assert total(m, "segsync_event_to_publish_lag_seconds_count") == len(commands)
        assert total(m, "segsync_event_to_publish_lag_seconds_sum") > 86400 * len(commands)

        assert total(m, "segsync_assigned_partitions") == 3
        assert total(m, "segsync_rebalances_total", kind="assigned") >= 1
        assert total(m, "segsync_held_removals") == 0
        assert ("process_cpu_seconds_total", ()) in m

        code, live = probe(port, "/healthz")
        assert code == 200 and live["status"] == "ok" and live["work_pending"] is False
        code, ready = probe(port, "/readyz")
        assert code == 200, ready
        assert all(ready["checks"].values()) and ready["assigned_partitions"] == 3
    finally:
        assert stop(proc) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert probe(port, "/healthz")[0] == 0  # the server is gone with the process
