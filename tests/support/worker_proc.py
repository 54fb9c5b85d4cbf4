"""Run the real `segsync` console script as a subprocess, as users and pipelines do."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.worker_env import WorkerEnv as WorkerEnv  # defined there, for bench too
from tests.support.kafka_io import TopicFactory

SEGSYNC = str(Path(sys.executable).with_name("segsync"))


def fresh_env(
    bootstrap: str,
    topics: TopicFactory,
    db_url: str,
    inputs: int = 3,
    commands: int = 3,
    prefix: str = "",
    group_id: str | None = None,
) -> WorkerEnv:
    """A worker on topics of its own: input (`inputs` partitions), group and enrolment
    commands (`commands` each), DLQ (1); topic names start with `prefix`. Without
    `group_id`, a consumer group of its own too (WorkerEnv's default)."""
    w = WorkerEnv(
        bootstrap=bootstrap,
        database_url=db_url,
        input_topics=topics(f"{prefix}in", inputs),
        command_topic=topics(f"{prefix}cmd", commands),
        dlq_topic=topics(f"{prefix}dlq", 1),
        enrollment_command_topic=topics(f"{prefix}enrol", commands),
    )
    if group_id is not None:
        w.group_id = group_id
    return w


def run_until_caught_up(
    w: WorkerEnv, timeout: float = 180, instance_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            [SEGSYNC, "run", "--until-caught-up"],
            env=w.env(instance_id),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:  # the worker's own words are the evidence
        raise AssertionError(
            f"segsync run --until-caught-up still running after {timeout:.0f}s; its log ends:\n"
            + _tail(exc.stderr)
            + _tail(exc.stdout)
        ) from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "segsync" in ln or "Error" in ln]
        raise AssertionError(
            f"segsync exited {proc.returncode}:\n"
            + "\n".join(lines[-40:])
            + "\nlog ends:\n"
            + _tail(proc.stderr)
            + _tail(proc.stdout)
        )
    return proc


def _tail(out: str | bytes | None, lines: int = 40) -> str:
    if not out:
        return ""
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    return "\n".join(ln[:400] for ln in text.splitlines()[-lines:]) + "\n"


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


def alive(pid: int) -> bool:
    """A process that runs (a zombie, exited but not reaped, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
