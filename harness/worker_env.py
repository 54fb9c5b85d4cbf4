"""The environment of a real `segsync` worker process started from outside: the test suite
(tests/support/worker_proc.py) and the benchmarks (bench/proc.py) both build it here, so
that the two run the worker the same way and neither imports the other."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field


@dataclass
class WorkerEnv:
    bootstrap: str
    database_url: str
    input_topics: str
    command_topic: str
    dlq_topic: str
    enrollment_command_topic: str  # the worker checks at start-up that it exists
    # A group of its own: tests sharing a broker must not share a consumer group.
    group_id: str = field(default_factory=lambda: f"segsync-test-{uuid.uuid4().hex[:8]}")
    extra: dict[str, str] = field(default_factory=dict)
    # Short, so that rebalance tests do not wait; None: the worker's default.
    session_timeout_ms: int | None = 6000

    def env(self, instance_id: str | None = None) -> dict[str, str]:
        """The environment of one worker process (also the benchmarks' workers): this
        process's variables without any SEGSYNC_* of its own, then these settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
        env.update(
            SEGSYNC_KAFKA_BOOTSTRAP=self.bootstrap,
            SEGSYNC_DATABASE_URL=self.database_url,
            SEGSYNC_INPUT_TOPICS=self.input_topics,
            SEGSYNC_COMMAND_TOPIC=self.command_topic,
            SEGSYNC_DLQ_TOPIC=self.dlq_topic,
            SEGSYNC_ENROLLMENT_COMMAND_TOPIC=self.enrollment_command_topic,
            SEGSYNC_GROUP_ID=self.group_id,
            SEGSYNC_RETRY_DEADLINE_S="60",
            SEGSYNC_LOG_FORMAT="json",
            SEGSYNC_CONFIG_FILE="/nonexistent/segsync.toml",
            # The brake holds big removals by design; guarantee tests run without it
            # (tests/engine/test_brake.py and tests/integration/test_brake_cli.py cover it).
            SEGSYNC_BRAKE_MAX_REMOVALS="0",
            SEGSYNC_BRAKE_MAX_SHARE="0",
            # Whatever a worker writes reaches its log at once: a worker killed (kill -9,
            # a test's timeout) leaves no buffered lines behind, the evidence of a fault.
            PYTHONUNBUFFERED="1",
        )
        if self.session_timeout_ms is not None:
            env["SEGSYNC_SESSION_TIMEOUT_MS"] = str(self.session_timeout_ms)
        if instance_id:
            env["SEGSYNC_INSTANCE_ID"] = instance_id
        env.update(self.extra)
        return env
