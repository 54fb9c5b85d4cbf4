"""Secure connections against a real broker with a SASL_SSL listener (SCRAM-SHA-512 and
PLAIN) and a mutual-TLS listener, certificates made by the test; PostgreSQL TLS options.

The worker runs as a subprocess over the secured listener; the test feeds and reads the
topics over the broker's plaintext listener."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support import secure_kafka as sk
from tests.support.histories import random_history, to_record
from tests.support.kafka_io import consume_all, produce, unique_topic_name
from tests.support.reference import check, desired
from tests.support.worker_proc import SEGSYNC, WorkerEnv, run_until_caught_up

TopicFactory = Callable[..., str]
PASSWORDS = (sk.SCRAM_PASSWORD, sk.PLAIN_PASSWORD, sk.CLIENT_KEY_PASSWORD)


def security_env(b: sk.SecureBroker, how: str, password: str | None = None) -> dict[str, str]:
    ca = str(b.certs.ca)
    if how == "scram":
        return {
            "SEGSYNC_KAFKA_BOOTSTRAP": b.sasl_ssl,
            "SEGSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SEGSYNC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "SEGSYNC_KAFKA_SASL_USERNAME": sk.SCRAM_USER,
            "SEGSYNC_KAFKA_SASL_PASSWORD": password or sk.SCRAM_PASSWORD,
            "SEGSYNC_KAFKA_SSL_CAFILE": ca,
        }
    if how == "plain":
        return {
            "SEGSYNC_KAFKA_BOOTSTRAP": b.sasl_ssl,
            "SEGSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SEGSYNC_KAFKA_SASL_MECHANISM": "PLAIN",
            "SEGSYNC_KAFKA_SASL_USERNAME": sk.PLAIN_USER,
            "SEGSYNC_KAFKA_SASL_PASSWORD": password or sk.PLAIN_PASSWORD,
            "SEGSYNC_KAFKA_SSL_CAFILE": ca,
        }
    assert how == "mtls"
    return {
        "SEGSYNC_KAFKA_BOOTSTRAP": b.ssl,
        "SEGSYNC_KAFKA_SECURITY_PROTOCOL": "SSL",
        "SEGSYNC_KAFKA_SSL_CAFILE": ca,
        "SEGSYNC_KAFKA_SSL_CERTFILE": str(b.certs.client_cert),
        "SEGSYNC_KAFKA_SSL_KEYFILE": str(b.certs.client_key),
        "SEGSYNC_KAFKA_SSL_PASSWORD": password or sk.CLIENT_KEY_PASSWORD,
    }


def make_env(b: sk.SecureBroker, topics: TopicFactory, db_url: str, how: str) -> WorkerEnv:
    w = WorkerEnv(
        bootstrap=b.plaintext,
        database_url=db_url,
        input_topics=topics("in", 2),
        command_topic=topics("cmd", 2),
        dlq_topic=topics("dlq", 1),
        enrollment_command_topic=topics("enrol", 1),
        group_id=unique_topic_name(f"segsync-{how}"),
    )
    w.extra = security_env(b, how)
    return w


@pytest.mark.parametrize("how", ["plain", "mtls"])  # SCRAM: the logs test below
def test_worker_over_secured_listener(
    secure_broker: sk.SecureBroker, secure_topics: TopicFactory, sqlite_url: str, how: str
) -> None:
    b = secure_broker
    w = make_env(b, secure_topics, sqlite_url, how)
    history = random_history(random.Random(7), 200)
    produce(b.plaintext, w.input_topics, [to_record(e) for e in history])
    run_until_caught_up(w, timeout=120)
    got = [json.loads(r.value) for r in consume_all(b.plaintext, w.command_topic)]
    verdict = check(got, desired(history))
    assert verdict.violations == [] and verdict.unique_commands >= 3


@pytest.mark.parametrize(
    ("how", "password", "words"),
    [
        ("scram", "not-alices-password", "credentials"),
        ("plain", "not-bobs-password", "credentials"),
        ("mtls", "not-the-key-password", "key"),
    ],
)
def test_wrong_secret_fails_startup_and_consumes_nothing(
    secure_broker: sk.SecureBroker,
    secure_topics: TopicFactory,
    secure_admin: Any,
    tmp_path: Path,
    how: str,
    password: str,
    words: str,
) -> None:
    b = secure_broker
    state = tmp_path / "state.sqlite"
    w = make_env(b, secure_topics, f"sqlite:///{state}", how)
    w.extra = security_env(b, how, password)
    produce(
        b.plaintext, w.input_topics, [to_record(e) for e in random_history(random.Random(1), 20)]
    )
    proc = subprocess.run([SEGSYNC, "run"], env=w.env(), capture_output=True, text=True, timeout=90)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback, no client chatter
    assert lines[0].startswith("segsync: ") and words in lines[0], lines[0]
    assert password not in proc.stderr
    # nothing consumed: no group on the broker, nothing published, no store created
    assert w.group_id not in repr(secure_admin.list_groups())
    assert consume_all(b.plaintext, w.command_topic) == []
    assert not state.exists()


def test_untrusted_broker_certificate_fails_startup(
    secure_broker: sk.SecureBroker, secure_topics: TopicFactory, tmp_path: Path
) -> None:
    w = make_env(secure_broker, secure_topics, f"sqlite:///{tmp_path / 's.sqlite'}", "scram")
    del w.extra["SEGSYNC_KAFKA_SSL_CAFILE"]  # the system's CAs do not know the test CA
    proc = subprocess.run([SEGSYNC, "run"], env=w.env(), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 1
    assert "TLS" in proc.stderr and "CERTIFICATE_VERIFY_FAILED" in proc.stderr, proc.stderr


def test_scram_full_run_logs_carry_no_payload_and_no_password(
    secure_broker: sk.SecureBroker, secure_topics: TopicFactory, pg_url: str
) -> None:
    b = secure_broker
    w = make_env(b, secure_topics, pg_url, "scram")
    db_password = "db-Secret-4-logs"  # the test server trusts local users: it is ignored
    w.extra |= {"SEGSYNC_DATABASE_PASSWORD": db_password, "SEGSYNC_LOG_LEVEL": "debug"}
    marker = "PAYLOADMARK"
    history = random_history(random.Random(7), 200)
    records = []
    for e in history:  # every id inside the payloads carries the marker; event ids do not
        key, value, headers = to_record(e)
        records.append((key, value.replace(b'": "u', f'": "{marker}u'.encode()), headers))
    produce(b.plaintext, w.input_topics, records)
    proc = run_until_caught_up(w, timeout=120)
    log = proc.stderr + proc.stdout
    for secret in (sk.SCRAM_PASSWORD, db_password):
        assert secret not in log
    assert marker not in log
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert len(lines) >= 3 and len(lines) == len(proc.stderr.strip().splitlines())
    for line in lines:
        assert not {"payload", "value", "data", "body", "headers"} & set(line), line
    batches = [line for line in lines if line["event"] == "batch applied"]
    assert batches
    for line in batches:  # bound context of the loop
        assert {"topic", "partition", "offset", "event_id"} <= set(line), line
        assert line["event_id"].startswith("e")
    commands = consume_all(b.plaintext, w.command_topic)
    assert commands and all(marker.encode() in r.value for r in commands)
    got = [json.loads(r.value.replace(marker.encode(), b"")) for r in commands]
    assert check(got, desired(history)).violations == []


def test_postgres_tls_options_reach_libpq(pg_url: str, tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    from worker.settings import load_settings
    from worker.store.db import make_engine

    ca = tmp_path / "root.crt"
    ca.write_text("not used unless sslmode verifies\n")
    s = load_settings(database_url=pg_url, database_sslmode="disable", database_sslrootcert=ca)
    assert "sslmode=disable" in s.sqlalchemy_url() and "sslrootcert=" in s.sqlalchemy_url()
    engine = make_engine(s.sqlalchemy_url())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
    # the local test server has TLS off: requiring it must fail, in libpq's words
    s = load_settings(database_url=pg_url, database_sslmode="require")
    engine = make_engine(s.sqlalchemy_url())
    with pytest.raises(OperationalError, match="SSL"), engine.connect():
        pass
    engine.dispose()
