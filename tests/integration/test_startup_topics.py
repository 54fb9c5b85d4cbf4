"""What `segsync run` refuses at start-up, and where queued records go (issue 12, items 4, 5
and 8): through the real console script against the real broker.

- outbox rows written while a topic setting held a typo go to the topic configured when they
  are published, not to the typo (the outbox keeps a destination, not a topic name);
- a missing input, command or DLQ topic stops start-up with exit 2 and one line, after
  waiting at most SEGSYNC_RETRY_DEADLINE_S, with a bounded log, and a stop signal ends the
  wait at once;
- one topic named for two roles (DLQ = input, commands = input, commands = DLQ) is refused.
"""

from __future__ import annotations

import signal
import subprocess
import time

import orjson
import pytest
from sqlalchemy import text

from tests.support.kafka_io import TopicFactory, consume_all, unique_topic_name
from tests.support.worker_proc import SEGSYNC, WorkerEnv, fresh_env, run_until_caught_up
from worker.store.db import make_engine
from worker.store.migrate import upgrade

COMMAND = orjson.dumps({"specversion": "1.0", "id": "c1", "type": "lms.group.member.add"})
DLQ_HEADERS = orjson.dumps([["ce_id", "e1"], ["segsync_error", "not JSON"]])
CMD_HEADERS = orjson.dumps([["content-type", "application/cloudevents+json"]])


def make_env(bootstrap: str, topics: TopicFactory, db_url: str) -> WorkerEnv:
    return fresh_env(bootstrap, topics, db_url, inputs=2, commands=1)


def segsync(
    w: WorkerEnv, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGSYNC, *args],
        env={**w.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_queued_rows_go_to_the_topics_configured_now(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """A store written by a run with typos in both topic settings (before destinations):
    its queued command, DLQ copy and held removal reach the configured topics, and the typo
    topics (created later, as an operator trying to "fix" it would) get nothing."""
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    typo_cmd, typo_dlq = topic_factory("typo-cmd", 1), topic_factory("typo-dlq", 1)
    engine = make_engine(db_url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        ins = "INSERT INTO outbox (topic, key, value, headers) VALUES (:t, :k, :v, :h)"
        conn.execute(text(ins), {"t": typo_cmd, "k": b"u1", "v": COMMAND, "h": CMD_HEADERS})
        conn.execute(text(ins), {"t": typo_dlq, "k": None, "v": b"junk", "h": DLQ_HEADERS})
        conn.execute(
            text(
                "INSERT INTO held_batch (source, cause_event_id, cause_type, detail, status,"
                " commands) VALUES ('s', 'e9', 'lms.group.deleted', 'g', 'held', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO held_command (batch_id, course_id, group_id, user_id, topic, key,"
                " value, headers) VALUES (1, 'c', 'g', 'u2', :t, :k, :v, :h)"
            ),
            {"t": typo_cmd, "k": b"u2", "v": b'{"id": "held"}', "h": CMD_HEADERS},
        )
    engine.dispose()

    run_until_caught_up(w)  # migrates, then publishes the outbox
    released = segsync(w, "release", "1")
    assert released.returncode == 0, released.stderr
    run_until_caught_up(w)

    cmds = consume_all(kafka_bootstrap, w.command_topic)
    assert [r.value for r in cmds] == [COMMAND, b'{"id": "held"}']
    dlq = consume_all(kafka_bootstrap, w.dlq_topic)
    assert [(r.value, dict(r.headers)["segsync_error"]) for r in dlq] == [(b"junk", b"not JSON")]
    assert consume_all(kafka_bootstrap, typo_cmd) == []
    assert consume_all(kafka_bootstrap, typo_dlq) == []


@pytest.mark.parametrize("role", ["input", "command", "dlq"])
def test_a_missing_topic_stops_start_up_with_exit_2(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, role: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    missing = unique_topic_name(f"missing-{role}")
    setattr(w, {"input": "input_topics"}.get(role, f"{role}_topic"), missing)
    started = time.monotonic()
    # --until-caught-up on a missing input topic exited 0 "caught up" (item 8).
    proc = segsync(w, "run", "--until-caught-up", env={"SEGSYNC_RETRY_DEADLINE_S": "3"})
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("segsync: topic(s) ") and missing in last, last
    assert "SEGSYNC_RETRY_DEADLINE_S" in last
    # Waited for the deadline, not the minute a producer or a fetch would block.
    assert 3 <= took < 30, took
    # A bounded log: the wait says so once, not once per metadata refresh.
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) < 15, "\n".join(lines)
    assert consume_all(kafka_bootstrap, w.command_topic if role != "command" else w.dlq_topic) == []


def test_a_stop_signal_ends_the_wait_for_a_topic(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    w.command_topic = unique_topic_name("missing-cmd")
    proc = subprocess.Popen(
        [SEGSYNC, "run"],
        env={**w.env(), "SEGSYNC_RETRY_DEADLINE_S": "120"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until it says it is waiting
            if "waiting for topics" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=20)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0


@pytest.mark.parametrize(
    ("setting", "same_as"),
    [
        ("SEGSYNC_DLQ_TOPIC", "input"),
        ("SEGSYNC_COMMAND_TOPIC", "input"),
        ("SEGSYNC_COMMAND_TOPIC", "dlq"),
    ],
)
def test_one_topic_for_two_roles_is_refused(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, setting: str, same_as: str
) -> None:
    """DLQ = input turned one bad record into 240 growing copies in 10 s."""
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    other = w.input_topics if same_as == "input" else w.dlq_topic
    proc = segsync(w, "run", "--until-caught-up", env={setting: other})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("segsync: invalid settings: ") and setting in lines[0]
    assert other in lines[0]
    assert consume_all(kafka_bootstrap, w.input_topics) == []
