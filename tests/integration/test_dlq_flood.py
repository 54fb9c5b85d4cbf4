"""A flood of bad records halts the worker before committing them (issue 12, item 6):
more than SEGSYNC_DLQ_MAX_SHARE of the last SEGSYNC_DLQ_WINDOW records of a partition.
The window is the store's: a restart meets the same flood and halts again."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.integration.test_dlq_records import T_MS, good_event, make_env, poison, produce_at
from tests.support.kafka_io import consume_all
from tests.support.worker_proc import SEGSYNC, WorkerEnv, run_until_caught_up

TopicFactory = Callable[..., str]


def run_expecting_halt(w: WorkerEnv) -> str:
    proc = subprocess.run(
        [SEGSYNC, "run", "--until-caught-up"],
        env=w.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"segsync: DLQ flood on {w.input_topics}:0: 11 of the last 20 records")
    assert "SEGSYNC_DLQ_MAX_SHARE=0.5" in last and "not JSON" in last
    return last


def test_a_flood_of_bad_records_halts_before_committing_them(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.extra.update(
        SEGSYNC_DLQ_WINDOW="20", SEGSYNC_DLQ_MAX_SHARE="0.5", SEGSYNC_BATCH_MAX_RECORDS="7"
    )
    # offsets 0-4 good, 5-7 bad, 8-27 good, 28-42 bad (the flood), 43-47 good
    kinds = ["g"] * 5 + ["b"] * 3 + ["g"] * 20 + ["b"] * 15 + ["g"] * 5
    records = [
        (b"k", poison(i) if k == "b" else good_event(i), 0, T_MS) for i, k in enumerate(kinds)
    ]
    produce_at(kafka_bootstrap, w.input_topics, records)
    first = run_expecting_halt(w)
    before = [
        int(dict(r.headers)["segsync_source_offset"])
        for r in consume_all(kafka_bootstrap, w.dlq_topic)
    ]
    # 11 bad among offsets 19..38: the record at 38 overflows; its batch is not committed.
    assert before[:3] == [5, 6, 7] and all(o < 38 for o in before)
    assert sorted(set(before)) == before
    # A restart meets the same flood (the window is in the store) and halts at the same place.
    assert run_expecting_halt(w) == first
    assert len(consume_all(kafka_bootstrap, w.dlq_topic)) == len(before)
    # 0 turns the halt off: the rest goes through, each bad record dead-lettered once.
    w.extra["SEGSYNC_DLQ_MAX_SHARE"] = "0"
    run_until_caught_up(w)
    after = [
        int(dict(r.headers)["segsync_source_offset"])
        for r in consume_all(kafka_bootstrap, w.dlq_topic)
    ]
    assert sorted(after) == [i for i, k in enumerate(kinds) if k == "b"]


def test_scattered_bad_records_under_the_share_do_not_halt(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.extra.update(SEGSYNC_DLQ_WINDOW="20", SEGSYNC_DLQ_MAX_SHARE="0.5")
    # every other record bad: exactly 10 of every 20, never more
    records = [(b"k", poison(i) if i % 2 else good_event(i), 0, T_MS) for i in range(60)]
    produce_at(kafka_bootstrap, w.input_topics, records)
    run_until_caught_up(w)
    assert len(consume_all(kafka_bootstrap, w.dlq_topic)) == 30
