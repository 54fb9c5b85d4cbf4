"""The real `segsync` console script as a subprocess (as pipelines run it), its timings from
its own JSON log lines, and its peak RSS from the kernel (wait4's ru_maxrss)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.services import RUN_DIR
from harness.worker_env import WorkerEnv

BIN = Path(sys.executable).parent
SEGSYNC = str(BIN / "segsync")
ENROL_CMD = "bench.enrol-commands"  # every bench worker's enrolment command topic


@dataclass
class Spec:
    bootstrap: str
    database_url: str
    input_topics: str
    command_topic: str
    dlq_topic: str
    group_id: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)
    profile: tuple[str, Path] | None = None  # ("pyinstrument" | "py-spy", output file)

    def env(self) -> dict[str, str]:
        """The tests' worker environment (brake off, JSON logs, no settings file) with the
        worker's own session timeout and info-level logs (the timings come from them)."""
        worker = WorkerEnv(
            bootstrap=self.bootstrap,
            database_url=self.database_url,
            input_topics=self.input_topics,
            command_topic=self.command_topic,
            dlq_topic=self.dlq_topic,
            enrollment_command_topic=ENROL_CMD,
            group_id=self.group_id,
            extra={"SEGSYNC_LOG_LEVEL": "info", **self.extra},
            session_timeout_ms=None,
        )
        return worker.env()

    def argv(self, until_caught_up: bool) -> list[str]:
        args = ["run", "--until-caught-up"] if until_caught_up else ["run"]
        if self.profile is None:
            return [SEGSYNC, *args]
        tool, out = self.profile
        if tool == "py-spy":
            return [str(BIN / "py-spy"), "record", "-r", "250", "-f", "speedscope", "-o", str(out),
                    "--", sys.executable, SEGSYNC, *args]  # fmt: skip
        return [str(BIN / "pyinstrument"), "-r", "pyisession", "-o", str(out), SEGSYNC, *args]


@dataclass
class Run:
    rc: int
    wall_s: float  # process start to exit
    steady_s: float | None  # partitions assigned -> caught up (from the worker's log)
    maxrss_mb: float  # VmHWM, polled every 50 ms while it runs
    cpu_s: float  # user + system CPU of the worker process and its children, start-up included
    totals: dict[str, int]
    log: Path
    # The sum of the children's VmHWM (PostgreSQL: the publisher process, ADR 0015).
    children_maxrss_mb: float = 0.0


class Worker:
    """One worker process; `wait()` or `stop()` reap it with its resource usage."""

    def __init__(self, spec: Spec, until_caught_up: bool) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self._out = open(spec.log, "wb")  # noqa: SIM115 - closed in _reap
        self.started = time.monotonic()
        self._exit: tuple[int, Any, float] | None = None
        self.hwm_mb = 0.0
        self.children_hwm_mb = 0.0
        self.proc = subprocess.Popen(
            spec.argv(until_caught_up),
            env=spec.env(),
            cwd=RUN_DIR,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        _LIVE.append(self)

    def rss_mb(self) -> float:
        """The current RSS; keeps the high-water mark (VmHWM) seen so far."""
        rss, hwm = rss_mb(self.proc.pid)
        self.hwm_mb = max(self.hwm_mb, hwm)
        children = sum(rss_mb(child)[1] for child in children_of(self.proc.pid))
        self.children_hwm_mb = max(self.children_hwm_mb, children)
        return rss

    def _try_reap(self) -> bool:
        # os.wait4 rather than Popen.poll: it returns the child's CPU times too. (Not its
        # ru_maxrss: Linux carries the parent's high-water mark into a vforked child.)
        if self._exit is None:
            self.rss_mb()
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self._exit = (status, usage, time.monotonic() - self.started)
        return self._exit is not None

    def alive(self) -> bool:
        return not self._try_reap()

    def wait_assigned(self, timeout_s: float = 120) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if any(e.get("event") == "partitions assigned" for e in log_events(self.spec.log)):
                return
            if not self.alive():
                raise RuntimeError(f"worker exited early, see {self.spec.log}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not assigned after {timeout_s}s, see {self.spec.log}")

    def wait(self, timeout_s: float) -> Run:
        end = time.monotonic() + timeout_s
        while True:
            if self._try_reap() and self._exit is not None:
                return self._reap(*self._exit)
            if time.monotonic() > end:
                self.proc.kill()
                _, status, usage = os.wait4(self.proc.pid, 0)
                self._exit = (status, usage, time.monotonic() - self.started)
                raise TimeoutError(f"worker still running after {timeout_s}s, see {self.spec.log}")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 60) -> Run:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def _reap(self, status: int, usage: Any, wall: float) -> Run:
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._out.close()
        events = log_events(self.spec.log)
        steady, totals = timings(events)
        cpu = usage.ru_utime + usage.ru_stime
        rc = self.proc.returncode
        run = Run(rc, wall, steady, self.hwm_mb, cpu, totals, self.spec.log, self.children_hwm_mb)
        if run.rc != 0:
            tail = self.spec.log.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"segsync exited {run.rc}:\n" + "\n".join(tail))
        return run


_LIVE: list[Worker] = []


def kill_leftovers() -> int:
    """Kill the workers this suite started that still run (after a failed phase)."""
    killed = 0
    for w in _LIVE:
        try:
            if w.alive():
                w.proc.kill()
                os.wait4(w.proc.pid, 0)
                killed += 1
        except ChildProcessError:
            continue
    _LIVE.clear()
    return killed


def children_of(pid: int) -> list[int]:
    """The process's children (Linux /proc), [] where the kernel does not list them."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        return out
    return out


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB from /proc; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    vals = {ln.split(":")[0]: ln.split()[1] for ln in text.splitlines() if ln.startswith("Vm")}
    return int(vals.get("VmRSS", 0)) / 1024, int(vals.get("VmHWM", 0)) / 1024


def run_until_caught_up(spec: Spec, timeout_s: float) -> Run:
    return Worker(spec, until_caught_up=True).wait(timeout_s)


def log_events(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _ts(e: dict[str, Any]) -> float | None:
    raw = e.get("timestamp")
    if not isinstance(raw, str):
        return None
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def timings(events: list[dict[str, Any]]) -> tuple[float | None, dict[str, int]]:
    """(seconds from the first assignment to 'caught up', the worker's totals)."""
    assigned = next((_ts(e) for e in events if e.get("event") == "partitions assigned"), None)
    done = next((e for e in reversed(events) if e.get("event") == "caught up"), None)
    totals: dict[str, int] = {}
    if done is not None and isinstance(done.get("totals"), dict):
        totals = {str(k): int(v) for k, v in done["totals"].items()}
    end = _ts(done) if done is not None else None
    steady = end - assigned if assigned is not None and end is not None else None
    return steady, totals
