"""Bad invocations through the real console script: the exit code and the one line on stderr
(README, "Operating it": 0 ok, 1 failure, 2 usage or settings; no traceback, no framed box).
And the worker's own log lines on a normal run: no error, no event id out of its batch."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_worker_e2e import TopicFactory, make_env, produce_events
from tests.support.reference import Ev
from tests.support.worker_proc import SEGSYNC, run_until_caught_up

BAD_UTF8 = b"\xff".decode("utf-8", "surrogateescape")  # what Python makes of byte 0xff
URL = "SEGSYNC_DATABASE_URL"

# (arguments, settings, exit code, the start of stderr's only line); {tmp} is a fresh folder.
CASES: list[tuple[list[str], dict[str, str], int, str]] = [
    (
        ["migrate"],
        {URL: "postgresql+asyncpg://segsync@db/segsync"},
        2,
        "segsync: invalid setting SEGSYNC_DATABASE_URL: driver 'asyncpg' is not supported; "
        "use postgresql+psycopg://",
    ),
    (
        ["migrate"],
        {URL: "postgresql+psycopg://segsync:s3cret@db:port/segsync"},
        2,
        "segsync: invalid setting SEGSYNC_DATABASE_URL: not a database URL (invalid literal",
    ),
    (
        ["migrate"],
        {URL: "postgresql+psycopg2://segsync@db/segsync"},
        2,
        "segsync: invalid setting SEGSYNC_DATABASE_URL: driver 'psycopg2' is not supported",
    ),
    (
        ["status"],
        {URL: "mysql://segsync@db/segsync"},
        2,
        "segsync: invalid setting SEGSYNC_DATABASE_URL: database 'mysql' is not supported",
    ),
    (
        ["run"],
        {URL: "sqlite://"},
        2,
        "segsync: invalid setting SEGSYNC_DATABASE_URL: an in-memory SQLite database cannot "
        "keep the state",
    ),
    (
        ["run", "--until-caught-up"],
        {"SEGSYNC_INPUT_TOPICS": "bad topic name!"},
        2,
        "segsync: invalid setting SEGSYNC_INPUT_TOPICS: 'bad topic name!' is not a Kafka topic",
    ),
    (
        ["run"],
        {"SEGSYNC_DLQ_TOPIC": "a/b"},
        2,
        "segsync: invalid setting SEGSYNC_DLQ_TOPIC: 'a/b' is not a Kafka topic name",
    ),
    (
        ["run"],
        {"SEGSYNC_GROUP_ID": f"g{BAD_UTF8}"},
        2,
        "segsync: invalid setting SEGSYNC_GROUP_ID: not valid UTF-8",
    ),
    (
        ["run"],
        {"SEGSYNC_KAFKA_SSL_CAFILE": "{tmp}/missing.pem"},
        2,
        "segsync: invalid setting SEGSYNC_KAFKA_SSL_CAFILE: {tmp}/missing.pem is not a readable",
    ),
    (
        ["release", "99999999999999999999999"],
        {},
        2,
        "segsync: release: Invalid value for 'batch_id': Input should be less than or equal to",
    ),
    (["discard", "0"], {}, 2, "segsync: discard: Invalid value for 'batch_id'"),
    (
        ["release", "abc"],
        {},
        2,
        "segsync: release: Invalid value for 'batch_id': Input should be a valid integer",
    ),
    (
        ["import", "--source", "s", "--enrolments", "{tmp}/missing.csv"],
        {},
        2,
        "segsync: import: Invalid value for '--enrolments': file '{tmp}/missing.csv' does not "
        "exist.",
    ),
    (
        ["links", "apply", "{tmp}/missing.yaml"],
        {},
        2,
        "segsync: links apply: Invalid value for 'file': file '{tmp}/missing.yaml' does not",
    ),
    (
        ["import", "--source", BAD_UTF8, "--enrolments", "x.csv"],
        {},
        2,
        "segsync: argument b'\\xff' is not valid UTF-8",
    ),
    (["bogus"], {}, 2, "segsync: No such command 'bogus'."),
    (["held", "--jsn"], {}, 2, "segsync: held: No such option: --jsn"),
    (["import", "--source"], {}, 2, "segsync: Option '--source' requires an argument."),
    (["release", "7"], {}, 1, "segsync: no held batch 7"),
]


def segsync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGSYNC, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "settings", "code", "first_line"),
    CASES,
    ids=[" ".join([*c[0][:2], *c[1]])[:60] for c in CASES],
)
def test_bad_invocation_is_one_line_and_its_exit_code(
    kafka_bootstrap: str,
    tmp_path: Path,
    args: list[str],
    settings: dict[str, str],
    code: int,
    first_line: str,
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SEGSYNC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        URL: f"sqlite:///{tmp_path}/state.sqlite",
        "SEGSYNC_CONFIG_FILE": "/nonexistent/segsync.toml",
        "SEGSYNC_LOG_FORMAT": "json",
    }
    env.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in settings.items()})
    proc = segsync([a.replace("{tmp}", str(tmp_path)) for a in args], env, tmp_path)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(first_line.replace("{tmp}", str(tmp_path))), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line: no traceback, no box
    assert "s3cret" not in proc.stderr


def test_sasl_failure_is_not_called_a_tls_failure(kafka_bootstrap: str, tmp_path: Path) -> None:
    # The test broker's listener is PLAINTEXT: the SASL handshake itself is refused.
    env = {
        "PATH": "/usr/bin:/bin",
        "SEGSYNC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        URL: f"sqlite:///{tmp_path}/state.sqlite",
        "SEGSYNC_CONFIG_FILE": "/nonexistent/segsync.toml",
        "SEGSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SEGSYNC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SEGSYNC_KAFKA_SASL_USERNAME": "alice",
        "SEGSYNC_KAFKA_SASL_PASSWORD": "alice-secret",
        "SEGSYNC_KAFKA_CONNECT_TIMEOUT_S": "20",
    }
    proc = segsync(["run"], env, tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        f"segsync: SASL handshake with Kafka at {kafka_bootstrap} (SASL_PLAINTEXT SCRAM-SHA-512 "
        "as 'alice') failed: IllegalSaslStateError"
    ), proc.stderr
    assert "TLS" not in proc.stderr and proc.stderr.count("\n") == 1


def ev(i: str, t: str, time: int, **data: str) -> Ev:
    return Ev("site", i, t, 1_700_000_000_000_000 + time * 1_000_000, tuple(sorted(data.items())))


def test_a_normal_run_logs_no_error_and_no_stray_event_id(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    w.extra["SEGSYNC_BATCH_MAX_RECORDS"] = "2"  # several batches

    def log_lines() -> list[dict[str, Any]]:
        proc = run_until_caught_up(w)
        lines = [json.loads(line) for line in proc.stderr.splitlines()]
        # e.g. kafka-python's "Metadata refresh: failed Cancelled" when it closes
        assert [x for x in lines if x["level"] in ("error", "critical")] == []
        return lines

    log_lines()  # empty topics: the client closes with a metadata refresh in flight
    events = [
        ev(f"e{k}", "lms.enrollment.created", k, user_id=f"u{k}", course_id="c") for k in range(6)
    ]
    produce_events(kafka_bootstrap, w.input_topics, events, random.Random(1))
    (caught_up,) = [x for x in log_lines() if x["event"] == "caught up"]
    assert "event_id" not in caught_up, caught_up  # it was a batch's first event
