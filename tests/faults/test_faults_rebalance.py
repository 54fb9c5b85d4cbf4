"""4. Rebalances: three workers in one consumer group (distinct SEGSYNC_INSTANCE_ID) on one
PostgreSQL, started, stopped (SIGTERM) and now and then killed on a random schedule while
a history streams into a 6-partition topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults_gen import Shape
from tests.support.faults_scenarios import Plan, rebalance_nemesis, run_faults
from tests.support.kafka_io import TopicFactory


def test_three_workers_random_schedule_short(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    plan = Plan(
        "rebalance-short",
        seed=41,
        events=1500,
        stream_s=18,
        workers=3,
        partitions=6,
        shape=Shape(users=150, burst_users=(20, 60)),
    )
    report = run_faults(
        plan,
        kafka_bootstrap,
        topic_factory,
        pg_url,
        tmp_path,
        rebalance_nemesis(8, gap_s=(0.5, 2.5)),
    )
    assert report.rebalances >= 5
    assert report.ok, report.render()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_three_workers_random_schedule_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    plan = Plan("rebalance-long", seed=42, events=12_000, stream_s=300, workers=3, partitions=6)
    report = run_faults(
        plan, kafka_bootstrap, topic_factory, pg_url, tmp_path, rebalance_nemesis(90)
    )
    assert report.rebalances >= 60
    assert report.ok, report.render()
