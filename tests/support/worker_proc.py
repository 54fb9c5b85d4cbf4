"""Run the real `segsync` console script as a subprocess, as users and pipelines do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SEGSYNC = str(Path(sys.executable).with_name("segsync"))


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
        )
        if self.session_timeout_ms is not None:
            env["SEGSYNC_SESSION_TIMEOUT_MS"] = str(self.session_timeout_ms)
        if instance_id:
            env["SEGSYNC_INSTANCE_ID"] = instance_id
        env.update(self.extra)
        return env


def run_until_caught_up(
    w: WorkerEnv, timeout: float = 180, instance_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [SEGSYNC, "run", "--until-caught-up"],
        env=w.env(instance_id),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "segsync" in ln or "Error" in ln]
        raise AssertionError(f"segsync exited {proc.returncode}:\n" + "\n".join(lines[-40:]))
    return proc


def start(
    w: WorkerEnv, instance_id: str | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen([SEGSYNC, "run"], env=w.env(instance_id), stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("worker did not stop in time") from None


def wait_until(pred, timeout: float, step: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False
