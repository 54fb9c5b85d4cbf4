"""The real Kafka broker and PostgreSQL server the integration tests run against.

Where they come from is chosen by ``SEGSYNC_TEST_SERVICES``:

``local`` (default)
    ``scripts/kafka.sh`` and ``scripts/pg.sh`` on this machine, on the test ports
    (``SEGSYNC_TEST_KAFKA_PORT``, default 19092; ``SEGSYNC_TEST_PG_PORT``, default 54329).
    A service already running there is used as it is and left running; one that a test
    session had to start is stopped when the last test session using it ends (sessions
    running at the same time in the same tree share it, see :class:`ScriptService`).
``testcontainers``
    Docker containers: ``apache/kafka:<the pom's Kafka version>`` (override with
    ``SEGSYNC_TEST_KAFKA_IMAGE``) and ``postgres:15`` (``SEGSYNC_TEST_PG_IMAGE``).
``external``
    Services someone else runs: ``SEGSYNC_TEST_KAFKA`` (bootstrap servers) and
    ``SEGSYNC_TEST_PG_URL`` (SQLAlchemy URL of a database on a server where that user
    may create databases), used as given. ``make test`` starts the local services
    itself and hands them over this way.

Each service is started lazily, the first time a test asks for it. Failures raise
:class:`ServiceError` carrying the service's log tail; the fixtures turn that into a
test failure, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
POM = SCRIPTS / "kafka" / "pom.xml"

MODES = ("local", "testcontainers", "external")
DEFAULT_KAFKA_PORT = 19092
DEFAULT_PG_PORT = 54329
# scripts/*.sh up: a cold Kafka start resolves its jars with Maven first.
SCRIPT_UP_TIMEOUT_S = 900
SCRIPT_DOWN_TIMEOUT_S = 120
READY_TIMEOUT_S = 90


class ServiceError(RuntimeError):
    """A test service could not be provided; the message says why, with its log tail."""


def services_mode() -> str:
    mode = os.environ.get("SEGSYNC_TEST_SERVICES", "local").strip() or "local"
    if mode not in MODES:
        raise ServiceError(f"SEGSYNC_TEST_SERVICES={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def kafka_version() -> str:
    """The Kafka version of scripts/kafka/pom.xml, the one place it is written."""
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if not m:
        raise ServiceError(f"no <kafka.version> in {POM}")
    return m.group(1)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ServiceError(f"{name}={raw!r} is not a port number") from None


# ---------------------------------------------------------------- readiness checks


def wait_for_kafka(bootstrap: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once a client can create (and delete) a topic on `bootstrap`."""
    from kafka.admin import KafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    while True:
        admin = None
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="segsync-tests-probe",
                request_timeout_ms=10_000,
                bootstrap_timeout_ms=3_000,
            )
            name = f"segsync-probe-{uuid.uuid4().hex[:12]}"
            admin.create_topics({name: {"num_partitions": 1, "replication_factor": 1}})
            admin.delete_topics([name], raise_errors=False)
            return
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()
        if time.monotonic() >= deadline:
            raise ServiceError(f"Kafka at {bootstrap} not usable after {timeout_s:.0f}s: {last}")
        time.sleep(0.5)


def psycopg_conninfo(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://u@h:p/db` -> `postgresql://u@h:p/db`, which psycopg accepts."""
    from sqlalchemy.engine import make_url

    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def with_database(sqlalchemy_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url).set(database=database).render_as_string(hide_password=False)


def wait_for_pg(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    while True:
        try:
            with psycopg.connect(psycopg_conninfo(url), connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise ServiceError(f"PostgreSQL at {url} not usable after {timeout_s:.0f}s: {last}")
        time.sleep(0.5)


# ---------------------------------------------------------------- local: scripts/*.sh


@dataclass
class ScriptService:
    """A service run by one of the repo's scripts (`up`, `down`, `status`), shared safely
    by test sessions that run at the same time in the same tree.

    Each session holds a lease (`.run/<key>.tests/<pid>`) while it uses the service. A
    service that a test session had to start is stopped when the last live lease goes;
    one that was already running (started by hand, by `make test`, ...) is left alone.
    """

    name: str
    key: str
    script: Path
    env: dict[str, str]
    log_file: Path | None = None
    holding: bool = False

    @property
    def _dir(self) -> Path:
        return REPO_ROOT / ".run" / f"{self.key}.tests"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), command],
            env={**os.environ, **self.env},
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def running(self) -> bool:
        return self._run("status", 60).returncode == 0

    def acquire(self) -> None:
        """Take a lease and make sure the service is up (starting it if need be)."""
        with self._locked():
            (self._dir / str(os.getpid())).touch()
            self.holding = True
            if not self.running():
                (self._dir / "started").touch()
            try:
                proc = self._run("up", SCRIPT_UP_TIMEOUT_S)
            except subprocess.TimeoutExpired as exc:
                raise ServiceError(
                    f"{self.script.name} up: still not done after {SCRIPT_UP_TIMEOUT_S}s\n"
                    f"{self.log_tail()}"
                ) from exc
            if proc.returncode != 0:
                raise ServiceError(
                    f"{self.script.name} up failed (exit {proc.returncode}):\n"
                    f"{_tail(proc.stdout + proc.stderr, 120)}"
                )

    def release(self) -> None:
        """Drop this session's lease; the last session out stops what a session started."""
        if not self.holding:
            return
        self.holding = False
        with self._locked():
            (self._dir / str(os.getpid())).unlink(missing_ok=True)
            live = False
            for lease in self._dir.iterdir():
                if not lease.name.isdigit():
                    continue
                if _pid_alive(int(lease.name)):
                    live = True
                else:
                    lease.unlink(missing_ok=True)
            started = self._dir / "started"
            if not live and started.exists():
                self._run("down", SCRIPT_DOWN_TIMEOUT_S)
                started.unlink(missing_ok=True)

    def log_tail(self) -> str:
        if self.log_file is None or not self.log_file.exists():
            return f"(no log file for {self.name})"
        return f"---- {self.log_file} ----\n{_tail(self.log_file.read_text(errors='replace'))}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- testcontainers


def _cluster_id() -> str:
    """A Kafka cluster id: a random UUID in base64url without padding, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _start_kafka_container() -> tuple[str, Callable[[], None], Callable[[], str]]:
    """apache/kafka in KRaft combined mode.

    testcontainers' KafkaContainer is built around the Confluent images' start scripts,
    so the official image is driven directly: the container waits until the host port
    mapped to its client listener is known, then advertises it.
    """
    import io
    import tarfile

    from testcontainers.core.container import DockerContainer

    image = os.environ.get("SEGSYNC_TEST_KAFKA_IMAGE") or f"apache/kafka:{kafka_version()}"
    advertised_file = "/tmp/segsync-advertised-listeners"
    container = DockerContainer(image)
    container.with_exposed_ports(9092)
    container.with_envs(
        CLUSTER_ID=_cluster_id(),
        KAFKA_NODE_ID="1",
        KAFKA_PROCESS_ROLES="broker,controller",
        KAFKA_LISTENERS="PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9094,CONTROLLER://0.0.0.0:9093",
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=(
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
        KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
        KAFKA_AUTO_CREATE_TOPICS_ENABLE="false",
        KAFKA_NUM_PARTITIONS="1",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
    )
    container.with_command(
        [
            "sh",
            "-c",
            f"while [ ! -s {advertised_file} ]; do sleep 0.1; done; "
            f'export KAFKA_ADVERTISED_LISTENERS="$(cat {advertised_file})"; '
            "exec /etc/kafka/docker/run",
        ]
    )
    container.start()

    def logs() -> str:
        out, err = container.get_logs()
        return _tail((out or b"").decode(errors="replace") + (err or b"").decode(errors="replace"))

    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(9092)
        listeners = f"PLAINTEXT://{host}:{port},BROKER://localhost:9094".encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(advertised_file.lstrip("/"))
            info.size = len(listeners)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(listeners))
        container.get_wrapped_container().put_archive("/", buf.getvalue())
        bootstrap = f"{host}:{port}"
        wait_for_kafka(bootstrap)
    except Exception as exc:
        tail = logs()
        container.stop()
        raise ServiceError(f"Kafka container {image}: {exc}\n{tail}") from exc
    return bootstrap, container.stop, logs


def _start_pg_container() -> tuple[str, Callable[[], None], Callable[[], str]]:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.postgres import PostgresContainer

    image = os.environ.get("SEGSYNC_TEST_PG_IMAGE") or "postgres:15"
    container = PostgresContainer(
        image, username="segsync", password="segsync", dbname="segsync", driver="psycopg"
    )
    container.start()

    def logs() -> str:
        out, err = container.get_logs()
        return _tail((out or b"").decode(errors="replace") + (err or b"").decode(errors="replace"))

    try:
        url = str(container.get_connection_url())
        wait_for_pg(url)
    except Exception as exc:
        tail = logs()
        container.stop()
        raise ServiceError(f"PostgreSQL container {image}: {exc}\n{tail}") from exc
    return url, container.stop, logs


# ---------------------------------------------------------------- the session's services


@dataclass
class Services:
    """Hands out the Kafka bootstrap and the PostgreSQL server URL for one test session."""

    mode: str
    kafka_port: int = DEFAULT_KAFKA_PORT
    pg_port: int = DEFAULT_PG_PORT
    _kafka: str | None = None
    _pg: str | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Services:
        return cls(
            mode=services_mode(),
            kafka_port=_env_port("SEGSYNC_TEST_KAFKA_PORT", DEFAULT_KAFKA_PORT),
            pg_port=_env_port("SEGSYNC_TEST_PG_PORT", DEFAULT_PG_PORT),
        )

    def kafka_bootstrap(self) -> str:
        if self._kafka is None:
            self._kafka = self._start_kafka()
        return self._kafka

    def pg_server_url(self) -> str:
        if self._pg is None:
            self._pg = self._start_pg()
        return self._pg

    def _start_kafka(self) -> str:
        if self.mode == "external":
            bootstrap = os.environ.get("SEGSYNC_TEST_KAFKA", "").strip()
            if not bootstrap:
                raise ServiceError("SEGSYNC_TEST_SERVICES=external needs SEGSYNC_TEST_KAFKA")
            wait_for_kafka(bootstrap, timeout_s=30)
            return bootstrap
        if self.mode == "testcontainers":
            bootstrap, stop, _ = _start_kafka_container()
            self._cleanups.append(stop)
            return bootstrap
        svc = ScriptService(
            name="Kafka",
            key=f"kafka-{self.kafka_port}",
            script=SCRIPTS / "kafka.sh",
            env={"KAFKA_PORT": str(self.kafka_port)},
            log_file=REPO_ROOT / ".run" / f"kafka-{self.kafka_port}" / "kafka.log",
        )
        self._cleanups.append(svc.release)
        svc.acquire()
        bootstrap = f"127.0.0.1:{self.kafka_port}"
        try:
            wait_for_kafka(bootstrap, timeout_s=30)
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n{svc.log_tail()}") from exc
        return bootstrap

    def _start_pg(self) -> str:
        if self.mode == "external":
            url = os.environ.get("SEGSYNC_TEST_PG_URL", "").strip()
            if not url:
                raise ServiceError("SEGSYNC_TEST_SERVICES=external needs SEGSYNC_TEST_PG_URL")
            wait_for_pg(url, timeout_s=30)
            return url
        if self.mode == "testcontainers":
            url, stop, _ = _start_pg_container()
            self._cleanups.append(stop)
            return url
        svc = ScriptService(
            name="PostgreSQL",
            key=f"pg-{self.pg_port}",
            script=SCRIPTS / "pg.sh",
            env={"PG_PORT": str(self.pg_port)},
        )
        self._cleanups.append(svc.release)
        svc.acquire()
        url = f"postgresql+psycopg://segsync@127.0.0.1:{self.pg_port}/segsync"
        wait_for_pg(url, timeout_s=30)
        return url

    def close(self) -> None:
        """Stop what this session started (nothing in `external` mode), newest first."""
        while self._cleanups:
            cleanup = self._cleanups.pop()
            with contextlib.suppress(Exception):  # teardown, best effort
                cleanup()


def create_database(server_url: str) -> tuple[str, str]:
    """CREATE DATABASE segsync_test_<8 hex> on the server of `server_url`.

    Returns (database name, SQLAlchemy URL of the new database).
    """
    import psycopg
    from psycopg import sql

    name = f"segsync_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_conninfo(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): connections a test left open do not stop it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(psycopg_conninfo(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
