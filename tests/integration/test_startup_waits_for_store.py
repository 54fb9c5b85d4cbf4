"""`segsync run` started while its database is not reachable yet (deployed at the same time,
restarting) waits for it up to SEGSYNC_RETRY_DEADLINE_S, as for an outage while running,
instead of exiting 1 at once; a database that does not exist still fails at once. Through
the real console script, the shared PostgreSQL behind a relay that refuses connections."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.histories import random_history, to_record
from tests.support.kafka_io import TopicFactory, consume_all, produce
from tests.support.reference import check, desired
from tests.support.tcp_proxy import relayed
from tests.support.worker_proc import SEGSYNC, WorkerEnv, wait_until


def env_for(bootstrap: str, topics: TopicFactory, url: str) -> WorkerEnv:
    return WorkerEnv(
        bootstrap=bootstrap,
        database_url=url,
        input_topics=topics("in", 2),
        command_topic=topics("cmd", 1),
        dlq_topic=topics("dlq", 1),
        enrollment_command_topic=topics("enrol", 1),
    )


def test_worker_started_before_its_database_waits_and_then_catches_up(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    history = random_history(
        random.Random(5), 400, sources=1, users=10, courses=2, segments=2, links=4
    )  # 12 pairs desired at the end
    log = tmp_path / "worker.log"
    with relayed(pg_url) as (url, relay):
        w = env_for(kafka_bootstrap, topic_factory, url)
        w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "120"
        produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in history])
        relay.cut()  # nothing listens: connection refused
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [SEGSYNC, "run", "--until-caught-up"], env=w.env(), stdout=out, stderr=out
            )
        try:
            assert wait_until(lambda: "waiting for the state store" in log.read_text(), 60)
            time.sleep(2)
            assert proc.poll() is None, log.read_text()[-2000:]  # still waiting, not exit 1
            relay.restore()
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0, log.read_text()[-3000:]
    got = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic, 60)]
    verdict = check(got, desired(history))
    assert verdict.violations == [] and len(verdict.final) == len(desired(history)) > 0, verdict


def test_database_that_never_comes_exits_1_after_the_deadline(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str
) -> None:
    with relayed(pg_url) as (url, relay):
        w = env_for(kafka_bootstrap, topic_factory, url)
        w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "3"
        relay.cut()
        started = time.monotonic()
        proc = subprocess.run(
            [SEGSYNC, "run", "--until-caught-up"],
            env=w.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert took >= 3, took  # it did wait
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("segsync: cannot prepare the state store"), proc.stderr[-2000:]


def test_a_missing_database_is_not_waited_for(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str
) -> None:
    url = make_url(pg_url).set(database="segsync_no_such_db").render_as_string(False)
    w = env_for(kafka_bootstrap, topic_factory, url)
    w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "300"
    started = time.monotonic()
    proc = subprocess.run(
        [SEGSYNC, "run", "--until-caught-up"],
        env=w.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert time.monotonic() - started < 60  # not the 300 s deadline
    assert "does not exist" in proc.stderr.strip().splitlines()[-1], proc.stderr[-2000:]
