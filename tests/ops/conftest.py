"""Shared by the ops command tests: fresh topics and store, and the real `segsync` script.

`ops` (SQLite) and `ops_db` (SQLite and PostgreSQL) give an `Ops` bound to new topics; its
`segsync(...)` runs the console script as a subprocess with SEGSYNC_* pointing at them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.support.histories import to_record
from tests.support.kafka_io import consume_all, produce
from tests.support.reference import Ev
from tests.support.worker_proc import SEGSYNC, WorkerEnv, fresh_env, run_until_caught_up

TopicFactory = Callable[..., str]


@dataclass
class Ops:
    bootstrap: str
    w: WorkerEnv
    tmp: Path

    def segsync(
        self, *args: str, rc: int | None = 0, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.w.env()
        env.update(extra or {})
        proc = subprocess.run(
            [SEGSYNC, *args], env=env, capture_output=True, text=True, timeout=300
        )
        if rc is not None:
            assert proc.returncode == rc, (
                f"segsync {' '.join(args)} exited {proc.returncode}, expected {rc}:\n"
                f"{proc.stderr[-3000:]}"
            )
        return proc

    def worker(self) -> subprocess.CompletedProcess[str]:
        return run_until_caught_up(self.w)

    def produce(self, events: Sequence[Ev]) -> None:
        produce(self.bootstrap, self.w.input_topics, [to_record(e) for e in events])

    def inputs(self) -> list[Any]:
        return consume_all(self.bootstrap, self.w.input_topics)

    def commands(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in consume_all(self.bootstrap, self.w.command_topic)]

    def enrolments(self) -> list[dict[str, Any]]:
        """The enrolment commands published so far."""
        topic = self.w.enrollment_command_topic
        return [json.loads(r.value) for r in consume_all(self.bootstrap, topic)]

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.segsync("status", "--json").stdout)
        return doc

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    def committed(self, group_id: str) -> dict[int, int | None]:
        """The committed offsets of a consumer group on the input topic (None: none)."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group_id, enable_auto_commit=False
        )
        try:
            parts = sorted(consumer.partitions_for_topic(self.w.input_topics) or ())
            topic = self.w.input_topics
            return {p: consumer.committed(TopicPartition(topic, p)) for p in parts}
        finally:
            consumer.close(autocommit=False)


def make_ops(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    database_url: str,
    tmp_path: Path,
    in_partitions: int = 3,
    cmd_partitions: int = 3,
) -> Ops:
    # A group of its own: test sessions running side by side on one broker must not
    # share a consumer group (a member with no partitions is "caught up" at once).
    w = fresh_env(
        kafka_bootstrap,
        topic_factory,
        database_url,
        inputs=in_partitions,
        commands=cmd_partitions,
        prefix="ops-",
        group_id=f"ops-{uuid.uuid4().hex[:12]}",
    )
    return Ops(kafka_bootstrap, w, tmp_path)


@pytest.fixture
def ops(kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path) -> Ops:
    return make_ops(kafka_bootstrap, topic_factory, sqlite_url, tmp_path)


@pytest.fixture
def ops_db(kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str, tmp_path: Path) -> Ops:
    return make_ops(kafka_bootstrap, topic_factory, db_url, tmp_path)
