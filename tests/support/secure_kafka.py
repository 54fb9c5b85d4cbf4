"""A second, throwaway Kafka broker with secured listeners, for the security tests.

It runs the same Apache Kafka jars as scripts/kafka.sh (.cache/kafka/<version>/libs), in
its own run folder and on free ports of 127.0.0.1, with four listeners:

    SASL_SSL   SCRAM-SHA-512 (user alice) and PLAIN (user bob), server certificate
    SSL        mutual TLS: the client must present a certificate signed by the test CA
    PLAINTEXT  for the tests' own admin work (topics, reading results)
    CONTROLLER KRaft

The CA, the broker's and the client's certificates are made with the openssl CLI when the
broker starts; the SCRAM credentials are written at format time
(`StorageTool format --add-scram`). The broker is started and stopped by the session
fixture that owns it (its own process, by pid).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import (
    REPO_ROOT,
    ServiceError,
    _cluster_id,
    kafka_version,
    wait_for_kafka,
)

SCRAM_USER, SCRAM_PASSWORD = "alice", "alice-scram-secret"
PLAIN_USER, PLAIN_PASSWORD = "bob", "bob-plain-secret"
CLIENT_KEY_PASSWORD = "client-key-secret"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certs:
    ca: Path  # CA certificate (PEM): the clients' and the broker's trust store
    client_cert: Path
    client_key: Path  # encrypted with CLIENT_KEY_PASSWORD
    server_pem: Path  # broker key (PKCS#8) + certificate


@dataclass(frozen=True)
class SecureBroker:
    sasl_ssl: str  # bootstrap of the SASL_SSL listener
    ssl: str  # bootstrap of the mutual-TLS listener
    plaintext: str  # for the tests' admin work
    certs: Certs
    run_dir: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()[-500:]}")


def make_certs(d: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    days = ["-days", "2"]
    _openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out"),
        *("ca.pem", *days, "-subj", "/CN=segsync-test-ca"),
        cwd=d,
    )
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subj in (("server", "/CN=localhost"), ("client", "/CN=segsync-client")):
        _openssl(
            *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key"),
            *("-out", f"{name}.csr", "-subj", subj),
            cwd=d,
        )
        extra = ["-extfile", "server.ext"] if name == "server" else []
        _openssl(
            *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
            *("-CAcreateserial", "-out", f"{name}.pem", *days, *extra),
            cwd=d,
        )
    # The broker reads a PEM key store: an unencrypted PKCS#8 key followed by its chain.
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.p8", cwd=d)
    server_pem = d / "server-keystore.pem"
    server_pem.write_text((d / "server.p8").read_text() + (d / "server.pem").read_text())
    # The client's key is encrypted: the worker must pass SEGSYNC_KAFKA_SSL_PASSWORD.
    _openssl(
        *("pkcs8", "-topk8", "-in", "client.key", "-out", "client-enc.key"),
        *("-v2", "aes-256-cbc", "-passout", f"pass:{CLIENT_KEY_PASSWORD}"),
        cwd=d,
    )
    for f in d.iterdir():
        f.chmod(0o600)
    return Certs(d / "ca.pem", d / "client.pem", d / "client-enc.key", server_pem)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _properties(run: Path, certs: Certs, ports: list[int]) -> str:
    sasl, ssl, plain, ctl = ports
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{PLAIN_USER}="{PLAIN_PASSWORD}";'
    )
    scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={HOST}:{ctl}
listeners=SASL_SSL://{HOST}:{sasl},SSL://{HOST}:{ssl},PLAINTEXT://{HOST}:{plain},CONTROLLER://{HOST}:{ctl}
advertised.listeners=SASL_SSL://{HOST}:{sasl},SSL://{HOST}:{ssl},PLAINTEXT://{HOST}:{plain}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
log.dirs={run / "data"}
ssl.keystore.type=PEM
ssl.keystore.location={certs.server_pem}
ssl.truststore.type=PEM
ssl.truststore.location={certs.ca}
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config={plain_jaas}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_jaas}
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


class SecureKafka:
    """Starts the broker (`start`) and stops the process it started (`stop`)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.libs = REPO_ROOT / ".cache" / "kafka" / kafka_version() / "libs"
        self.log = run_dir / "kafka.log"

    def _java(self, *args: str, heap: str) -> list[str]:
        log4j = REPO_ROOT / "scripts" / "kafka" / "log4j2.properties"
        return [
            "java",
            heap,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.run_dir}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no broker log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout_s: float = 90) -> SecureBroker:
        if not (self.libs / f"kafka-clients-{kafka_version()}.jar").exists():
            raise ServiceError(f"no Kafka jars in {self.libs}: run scripts/kafka.sh up once")
        certs = make_certs(self.run_dir / "certs")
        ports = free_ports(4)
        props = self.run_dir / "server.properties"
        props.write_text(_properties(self.run_dir, certs, ports))
        scram = f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"
        fmt = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                _cluster_id(),
                "-c",
                str(props),
                "--add-scram",
                scram,
                heap="-Xmx256m",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if fmt.returncode != 0:
            raise ServiceError(f"formatting the secure broker failed:\n{fmt.stdout}{fmt.stderr}")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self._java("kafka.Kafka", str(props), heap="-Xmx384m"),
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        plaintext = f"{HOST}:{ports[2]}"
        try:
            wait_for_kafka(plaintext, timeout_s=timeout_s)
        except ServiceError as exc:
            self.stop()
            raise ServiceError(f"{exc}\n{self.log_tail()}") from exc
        return SecureBroker(
            sasl_ssl=f"{HOST}:{ports[0]}",
            ssl=f"{HOST}:{ports[1]}",
            plaintext=plaintext,
            certs=certs,
            run_dir=self.run_dir,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
