"""The suite's own broker and PostgreSQL (scripts/kafka.sh, scripts/pg.sh on bench ports),
topic administration, and the machine / version facts that go next to the figures."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient

from bench import lms

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run" / "bench"


@dataclass(frozen=True)
class Services:
    kafka_port: int
    pg_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def pg_url(self, database: str = "segsync") -> str:
        return f"postgresql+psycopg://segsync@127.0.0.1:{self.pg_port}/{database}"

    def _script(self, name: str, action: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KAFKA_PORT=str(self.kafka_port), PG_PORT=str(self.pg_port))
        return subprocess.run(
            [str(ROOT / "scripts" / name), action],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    def up(self) -> None:
        """Fresh services: whatever an earlier, interrupted suite left on these ports goes."""
        for name in ("kafka.sh", "pg.sh"):
            if self._script(name, "status").returncode == 0:
                self._script(name, "down")
            done = self._script(name, "up")
            if done.returncode != 0:
                raise RuntimeError(f"scripts/{name} up failed:\n{done.stdout}{done.stderr}")
            print("  " + done.stdout.strip().splitlines()[-1], flush=True)

    def down(self) -> None:
        for name in ("kafka.sh", "pg.sh"):
            self._script(name, "down")

    def create_database(self, name: str) -> str:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.pg_port} user=segsync dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.pg_url(name)

    def terminate_backends(self, name: str) -> int:
        """End the sessions on one of the suite's databases: a killed worker's statement runs
        on in PostgreSQL, and an open SERIALIZABLE transaction keeps every concurrent one's
        predicate locks alive (the next phase then fails with "out of shared memory")."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.pg_port} user=segsync dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
        return len(rows)

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="segsync-bench")

    def create_topics(self, specs: dict[str, tuple[int, dict[str, str]]]) -> None:
        """name -> (partitions, topic configs); waits until every partition has a leader."""
        admin = self.admin()
        try:
            new = {
                name: {"num_partitions": parts, "replication_factor": 1, "configs": configs}
                for name, (parts, configs) in specs.items()
            }
            admin.create_topics(new, timeout_ms=30_000)
            admin.wait_for_topics(list(specs), timeout_ms=30_000)
        finally:
            admin.close()


# Commands and passthrough output carry the broker's append time: "visible on the topic".
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    mem_kb = 0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        cpu = found.group(1).strip() if found else cpu
        meminfo = Path("/proc/meminfo").read_text()
        found_mem = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.M)
        mem_kb = int(found_mem.group(1)) if found_mem else 0
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def versions() -> dict[str, str]:
    pom = (ROOT / "scripts" / "kafka" / "pom.xml").read_text()
    kafka = re.search(r"<kafka\.version>\s*([^<\s]+)", pom)
    pg_bin = Path("/usr/lib/postgresql/15/bin/postgres")
    pg = _first_line([str(pg_bin) if pg_bin.exists() else "postgres", "-V"])
    pg_version = re.search(r"\(PostgreSQL\)\s+(\S+)", pg)
    return {
        "python": platform.python_version(),
        "kafka-python": _pkg("kafka-python"),
        "sqlalchemy": _pkg("sqlalchemy"),
        "psycopg": _pkg("psycopg"),
        "pydantic": _pkg("pydantic"),
        "orjson": _pkg("orjson"),
        "kafka": kafka.group(1) if kafka else "unknown",
        "postgresql": pg_version.group(1) if pg_version else pg,
        "sqlite": sqlite3.sqlite_version,
        "java": _first_line(["java", "-version"]),
        "lms_producer": lms.describe(),
    }
