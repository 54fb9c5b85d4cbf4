"""A topic that went backwards (issue 13, item 8): the store's offset for a partition lies
beyond the partition's end, as after a broker that lost its data (compose without its data
volume) or a re-created topic. New events then sit below the stored offset: the worker must
stop with one line saying so (exit 1), not skip them silently.

The topic is really re-created on the broker (deleted, created again, fewer records).
"""

from __future__ import annotations

import random
import subprocess
import time
from typing import Any

from kafka.errors import KafkaError

from tests.support.histories import random_history, to_record
from tests.support.kafka_io import TopicFactory, create_topic, produce
from tests.support.worker_proc import SEGSYNC, WorkerEnv, run_until_caught_up


def recreate(admin: Any, topic: str, partitions: int, timeout_s: float = 60) -> None:
    admin.delete_topics([topic], timeout_ms=30_000)
    deadline = time.monotonic() + timeout_s
    while True:  # deletion completes in the background
        try:
            create_topic(admin, topic, partitions)
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_topic_that_went_backwards_stops_the_worker(
    kafka_bootstrap: str, kafka_admin: Any, topic_factory: TopicFactory, db_url: str
) -> None:

    w = WorkerEnv(
        bootstrap=kafka_bootstrap,
        database_url=db_url,
        input_topics=topic_factory("in", 1),
        command_topic=topic_factory("cmd", 1),
        dlq_topic=topic_factory("dlq", 1),
        enrollment_command_topic=topic_factory("enrol", 1),
    )
    history = random_history(random.Random(13), 60)
    produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in history])
    run_until_caught_up(w)

    recreate(kafka_admin, w.input_topics, 1)
    produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in history[:5]])
    proc = subprocess.run(
        [SEGSYNC, "run", "--until-caught-up"],
        env=w.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"segsync: input topic {w.input_topics} partition 0 went backwards")
    assert "offset 60 but it ends at 5" in last and "SEGSYNC_GROUP_ID" in last
