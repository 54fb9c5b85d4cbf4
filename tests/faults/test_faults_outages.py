"""2-3. Outages: the broker paused (SIGSTOP for 10-30 s, then SIGCONT) and restarted
(SIGTERM, same data), the database paused (postmaster and backends stopped) and restarted
(fast, and immediate: backends die mid-transaction) while a history streams in. The
workers must ride it out (no exit: SEGSYNC_RETRY_DEADLINE_S is longer than any outage),
never skip, and catch up on their own; then the checker runs.

Outages hit services of their own (tests/faults/conftest.py), never the shared ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults_gen import Shape
from tests.support.faults_scenarios import Plan, broker_nemesis, database_nemesis, run_faults
from tests.support.faults_services import FaultKafka, FaultPg
from tests.support.kafka_io import TopicFactory

SMALL = Shape(users=120, burst_users=(20, 60), burst_rate=0.006)


def _assert_ok(report_ok: bool, rendered: str) -> None:
    assert report_ok, rendered


def test_broker_pause_and_restart_short(
    fault_kafka: FaultKafka, fault_topics: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    plan = Plan("broker-short", seed=21, events=1200, stream_s=25, workers=1, shape=SMALL)
    nemesis = broker_nemesis(
        fault_kafka, pauses=1, restarts=1, pause_s=(10, 11), down_s=(0, 1), gap_s=(1, 3)
    )
    report = run_faults(plan, fault_kafka.bootstrap, fault_topics, pg_url, tmp_path, nemesis)
    assert len(report.outages) == 2
    _assert_ok(report.ok, report.render())


def test_database_pause_and_restart_short(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    fault_pg: FaultPg,
    fault_pg_url: str,
    tmp_path: Path,
) -> None:
    plan = Plan("database-short", seed=31, events=1200, stream_s=20, workers=1, shape=SMALL)
    nemesis = database_nemesis(
        fault_pg, pauses=1, restarts=1, pause_s=(10, 11), down_s=(0, 2), gap_s=(1, 3)
    )
    report = run_faults(plan, kafka_bootstrap, topic_factory, fault_pg_url, tmp_path, nemesis)
    assert len(report.outages) == 2
    _assert_ok(report.ok, report.render())


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_broker_outages_long(
    fault_kafka: FaultKafka, fault_topics: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    plan = Plan("broker-long", seed=22, events=8000, stream_s=240, workers=2)
    nemesis = broker_nemesis(fault_kafka, pauses=4, restarts=3, gap_s=(5, 15))
    report = run_faults(plan, fault_kafka.bootstrap, fault_topics, pg_url, tmp_path, nemesis)
    assert len(report.outages) == 7
    _assert_ok(report.ok, report.render())


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_database_outages_long(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    fault_pg: FaultPg,
    fault_pg_url: str,
    tmp_path: Path,
) -> None:
    plan = Plan("database-long", seed=32, events=8000, stream_s=240, workers=2)
    nemesis = database_nemesis(fault_pg, pauses=4, restarts=4, gap_s=(5, 15))
    report = run_faults(plan, kafka_bootstrap, topic_factory, fault_pg_url, tmp_path, nemesis)
    assert len(report.outages) == 8
    _assert_ok(report.ok, report.render())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bug_worker_survives_broker_down(
    fault_kafka: FaultKafka, fault_topics: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    """ENGINE BUG found by the long broker run (issue 8), failing until fixed.

    While the broker is down (connection refused, e.g. during a restart), an idle or busy
    worker's `KafkaInput.poll` (worker/adapters/kafka_input.py: `self.consumer.poll`, called
    from worker/engine/loop.py `Worker.run` outside `retry`) lets kafka-python's
    KafkaConnectionError (from FindCoordinator / metadata refresh) escape: the worker exits
    1 at once instead of retrying up to SEGSYNC_RETRY_DEADLINE_S. Here: two workers,
    the broker stopped for 12-20 s four times; no worker may exit."""
    plan = Plan("bug-broker-down", seed=23, events=1500, stream_s=110, workers=2, shape=SMALL)
    nemesis = broker_nemesis(fault_kafka, pauses=0, restarts=4, down_s=(12, 20), gap_s=(2, 5))
    report = run_faults(plan, fault_kafka.bootstrap, fault_topics, pg_url, tmp_path, nemesis)
    assert report.unexpected_exits == [], report.render()
    assert report.ok, report.render()
