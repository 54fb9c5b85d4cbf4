"""The ceiling: a raw kafka-python consume -> produce loop with the worker's own client
settings and nothing else (no decoding, no database). Run as a subprocess, like the worker:

    SEGSYNC_KAFKA_BOOTSTRAP=... SEGSYNC_INPUT_TOPICS=in SEGSYNC_GROUP_ID=g \\
        python -m bench.passthrough OUT_TOPIC     # consume -> produce
        python -m bench.passthrough -             # consume only: the no-op replay's ceiling

Same loop shape as the worker's checkpoint: poll a batch (max_poll_records), send it all,
wait for every ack (acks=all, idempotent producer), commit the offsets; until the positions
reach the end offsets read at start. Prints one JSON line with its timings.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from worker.adapters.kafka_input import KafkaInput

_SHOWN = (
    "max_poll_records",
    "fetch_max_bytes",
    "max_partition_fetch_bytes",
    "fetch_min_bytes",
    "fetch_max_wait_ms",
    "check_crcs",
    "acks",
    "linger_ms",
    "batch_size",
    "enable_idempotence",
    "compression_type",
    "max_in_flight_requests_per_connection",
)


def clients() -> tuple[KafkaInput, KafkaProducer, list[str]]:
    """The worker's adapters build the clients, so the ceiling follows any tuning of theirs.
    The raw consumer is polled directly: a fresh group starts every partition at the
    beginning (auto_offset_reset), as the worker does for partitions its store lacks. The
    producer is sent to with kafka-python's own `send`, not the leaner path the worker's
    commands take (worker/adapters/lean_send.py), and its records are kafka-python's own,
    not the worker's lean fetch (worker/adapters/lean_fetch.py): the ceiling stays raw
    kafka-python."""
    from worker.adapters.kafka_io import KafkaSink
    from worker.settings import load_settings

    settings = load_settings()
    sink = KafkaSink(settings)
    source = KafkaInput(settings, lambda _assigned: {}, lean=False)
    return source, sink.producer, list(settings.input_topics)


def config_of(*objs: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for obj in objs:
        cfg = getattr(obj, "config", {})
        shown.update({k: cfg[k] for k in _SHOWN if k in cfg})
    return shown


def main(out_topic: str | None) -> None:
    started = time.time()
    assigned_at: list[float] = []
    source, producer, topics = clients()
    consumer = source.consumer
    parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    ends: dict[Any, int] = consumer.end_offsets(parts)
    n = 0
    while True:
        batches = consumer.poll(timeout_ms=200)
        if source.joined and not assigned_at:  # the listener saw the first assignment
            assigned_at.append(time.time())
        if out_topic is None:
            got = sum(len(records) for records in batches.values())
        else:
            futures = [
                producer.send(out_topic, key=r.key, value=r.value, headers=list(r.headers or []))
                for records in batches.values()
                for r in records
            ]
            producer.flush(timeout=60)
            for f in futures:
                f.get(timeout=60)
            got = len(futures)
        if got:
            n += got
            consumer.commit(
                {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in batches.items()}
            )
        if assigned_at and all(consumer.position(tp) >= off for tp, off in ends.items()):
            break
    done = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "records": n,
                "started": started,
                "assigned": assigned_at[0],
                "done": done,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "config": config_of(consumer, producer),
            },
            default=str,
        ),
        flush=True,
    )
    consumer.close(autocommit=False)
    producer.close(timeout=30)


if __name__ == "__main__":
    main(None if sys.argv[1] == "-" else sys.argv[1])
