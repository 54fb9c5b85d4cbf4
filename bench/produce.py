"""The publisher's cost per command record: `python -m bench.produce --bootstrap HOST:PORT`.

The worker's own producer (worker.adapters.kafka_io.make_producer) sends N command-sized
records with a command's headers to a topic of six partitions (created, then deleted), in
publishes of 5,000 with the acks awaited, two ways in alternation: kafka-python's
`KafkaProducer.send`, and the worker's lean path (worker/adapters/lean_send.py, ADR 0018).
Printed: CPU µs per record of this process (kafka-python's sender thread included) and
wall µs per record, each round. Figures, not assertions: they vary with the machine.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from kafka.admin import KafkaAdminClient

from worker.adapters.kafka_io import make_producer
from worker.adapters.lean_send import LeanSend
from worker.settings import Settings

_VALUE = (
    b'{"specversion":"1.0","id":"5f0c3a52-9d1e-5b7a-8c4e-2a6f1d9b7e30","source":"segsync",'
    b'"type":"lms.group.member.add","time":"2026-12-04T10:00:00.000000Z",'
    b'"datacontenttype":"application/json","data":{"course_id":"course-123",'
    b'"group_id":"group-12","user_id":"user-12345","caused_by":"ev-123456","reason":"link"}}'
)
_HEADERS = [("content-type", b"application/cloudevents+json")]
BATCH = 5_000


def _round(producer: Any, send: Callable[[bytes], Any], n: int, start: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.monotonic()
    for first in range(start, start + n, BATCH):
        futures = [send(b"site|c%d|g1|u%d" % (i % 50, i)) for i in range(first, first + BATCH)]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
    return (time.process_time() - cpu) * 1e6 / n, (time.monotonic() - wall) * 1e6 / n


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    n = max(BATCH, args.records // BATCH * BATCH)

    topic = f"bench-produce-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics({topic: {"num_partitions": 6, "replication_factor": 1}})
    admin.wait_for_topics([topic], timeout_ms=30_000)
    producer = make_producer(
        Settings(kafka_bootstrap=args.bootstrap, database_url="sqlite:///unused.sqlite")
    )
    lean = LeanSend(producer)
    ways: dict[str, Callable[[bytes], Any]] = {
        "send": lambda key: producer.send(
            topic, key=key, value=_VALUE, headers=list(_HEADERS), timestamp_ms=None
        ),
        "lean": lambda key: lean.send(topic, key, _VALUE, _HEADERS, None),
    }
    try:
        _round(producer, ways["send"], BATCH, 0)  # metadata, connections, warm caches
        print(f"{n:,} records a round, publishes of {BATCH:,}; CPU / wall µs per record")
        for r in range(args.rounds):
            for name, send in ways.items():
                cpu, wall = _round(producer, send, n, (r + 1) * 10 * n)
                print(f"  round {r + 1}  {name:4}  {cpu:5.1f} / {wall:5.1f}", flush=True)
    finally:
        producer.close(timeout=10)
        admin.delete_topics([topic])
        admin.close()


if __name__ == "__main__":
    main()
