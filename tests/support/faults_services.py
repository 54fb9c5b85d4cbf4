"""Private services for the outage tests: a Kafka broker and a PostgreSQL server of their
own (scripts/kafka.sh and scripts/pg.sh on ports nobody else uses), so that pausing or
restarting them never disturbs tests running at the same time against the shared ones.

Faults:
* `pause(seconds)` - SIGSTOP, sleep, SIGCONT. For PostgreSQL the postmaster *and* its
  children (the backends serving the worker's open connections) are stopped: stopping
  the postmaster alone would only block new connections.
* `restart(down_s)` - Kafka: SIGTERM through `KEEP_DATA=1 kafka.sh down`, then `up` on the
  same data. PostgreSQL: `pg_ctl stop -m fast|immediate` (immediate = crash-like, every
  backend dies mid-transaction), then `pg.sh up` on the same data.
A paused service is always resumed (and every service stopped) by `close()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import REPO_ROOT, SCRIPTS, ServiceError, wait_for_kafka, wait_for_pg

FAULT_KAFKA_PORT = int(os.environ.get("SEGSYNC_FAULTS_KAFKA_PORT", "29192"))
FAULT_PG_PORT = int(os.environ.get("SEGSYNC_FAULTS_PG_PORT", "54399"))
# Without an explicit port, the first free one of FAULT_*_PORT + 10 * k (k < 20) is used:
# a fault session never shares (and so never pauses or stops) another one's service.
PORT_TRIES = 1 if os.environ.get("SEGSYNC_FAULTS_KAFKA_PORT") else 20
PG_PORT_TRIES = 1 if os.environ.get("SEGSYNC_FAULTS_PG_PORT") else 20


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_on_free_port(
    first: int,
    tries: int,
    ports_used: Callable[[int], tuple[int, ...]],
    start: Callable[[int], None],
) -> int:
    errors = []
    for k in range(tries):
        port = first + 10 * k
        if any(_port_open(p) for p in ports_used(port)):
            errors.append(f"{port}: in use")
            continue
        try:
            start(port)
            return port
        except ServiceError as exc:
            errors.append(f"{port}: {str(exc)[-500:]}")
    raise ServiceError("no free port for a fault-suite service:\n" + "\n".join(errors))


def _script(script: str, command: str, env: dict[str, str], timeout: float = 900) -> str:
    proc = subprocess.run(
        [str(SCRIPTS / script), command],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0 and command != "status":
        raise ServiceError(f"{script} {command} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(entry.name))
    return out


@dataclass
class FaultService:
    paused: list[int] = field(default_factory=list)

    def _stop(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self.paused.append(pid)

    def resume(self) -> None:
        for pid in reversed(self.paused):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.paused.clear()


@dataclass
class FaultKafka(FaultService):
    port: int = FAULT_KAFKA_PORT
    started: bool = False

    @property
    def env(self) -> dict[str, str]:
        return {"KAFKA_PORT": str(self.port)}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """First start, on a free port pair (client, controller = client + 1)."""

        def on(port: int) -> None:
            self.port = port
            self.up()

        _start_on_free_port(self.port, PORT_TRIES, lambda p: (p, p + 1), on)

    def up(self) -> None:
        self.started = True
        _script("kafka.sh", "up", self.env)
        wait_for_kafka(self.bootstrap, timeout_s=60)

    def pid(self) -> int:
        pidfile = REPO_ROOT / ".run" / f"kafka-{self.port}" / "kafka.pid"
        return int(pidfile.read_text().split()[0])

    def pause(self, seconds: float) -> None:
        self._stop([self.pid()])
        try:
            time.sleep(seconds)
        finally:
            self.resume()

    def restart(self, down_s: float) -> None:
        _script("kafka.sh", "down", {**self.env, "KEEP_DATA": "1"})
        time.sleep(down_s)
        self.up()

    def close(self) -> None:
        self.resume()
        if self.started:
            _script("kafka.sh", "down", self.env)
            self.started = False


@dataclass
class FaultPg(FaultService):
    port: int = FAULT_PG_PORT
    started: bool = False

    @property
    def env(self) -> dict[str, str]:
        return {"PG_PORT": str(self.port)}

    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg://segsync@127.0.0.1:{self.port}/segsync"

    def start(self) -> None:
        def on(port: int) -> None:
            self.port = port
            self.up()

        _start_on_free_port(self.port, PG_PORT_TRIES, lambda p: (p,), on)

    def up(self) -> None:
        self.started = True
        _script("pg.sh", "up", self.env)
        wait_for_pg(self.server_url, timeout_s=60)
        self._durable()

    def _durable(self) -> None:
        """pg.sh trades durability for speed (synchronous_commit = off): a commit is
        acknowledged before its WAL is written, so an immediate (crash-like) stop loses
        commits the worker was told had succeeded - and whose commands it had already
        published. A real store keeps what it acknowledged; this cluster must too."""
        import psycopg

        from tests.support.services import psycopg_conninfo

        with psycopg.connect(psycopg_conninfo(self.server_url), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            conn.execute("SELECT pg_reload_conf()")

    def _status(self) -> tuple[int, Path]:
        out = _script("pg.sh", "status", self.env)
        m = re.search(r"pid (\d+), data (\S+)\)", out)
        if not m:
            raise ServiceError(f"pg.sh status: not running: {out.strip()}")
        return int(m.group(1)), Path(m.group(2))

    def pause(self, seconds: float) -> None:
        postmaster, _ = self._status()
        self._stop([postmaster])
        self._stop(_children(postmaster))
        try:
            time.sleep(seconds)
        finally:
            self.resume()

    def restart(self, down_s: float, mode: str = "fast") -> None:
        _, data = self._status()
        pg_ctl = _pg_bin() / "pg_ctl"
        cmd = [str(pg_ctl), "-D", str(data), "-m", mode, "-w", "-t", "60", "stop"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, cwd="/", capture_output=True, timeout=120, check=False)
        time.sleep(down_s)
        self.up()

    def close(self) -> None:
        self.resume()
        if self.started:
            # SEGSYNC_FAULTS_KEEP=1: keep the cluster's data for a post-mortem
            # (PG_PORT=<port> scripts/pg.sh up brings it back).
            keep = {"KEEP_DATA": "1"} if os.environ.get("SEGSYNC_FAULTS_KEEP") == "1" else {}
            _script("pg.sh", "down", {**self.env, **keep})
            self.started = False


def _pg_bin() -> Path:
    if env := os.environ.get("PG_BIN"):
        return Path(env)
    default = Path("/usr/lib/postgresql/15/bin")
    if (default / "pg_ctl").exists():
        return default
    import shutil

    found = shutil.which("pg_ctl")
    if not found:
        raise ServiceError("pg_ctl not found (set PG_BIN)")
    return Path(found).parent
