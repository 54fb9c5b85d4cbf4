"""1. Crash loop: kill -9 of worker processes at random moments, right after a state
commit (before the publish) and mid-backfill (SEGSYNC_BACKFILL_CHUNK=5, bursts of 40-160
users per link), while a multi-site history streams in; restarted each time. The checker
then wants alternation per pair, final agreement with the reference, no stall."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults_gen import Shape
from tests.support.faults_scenarios import Plan, crash_nemesis, run_faults
from tests.support.kafka_io import TopicFactory


def crash_run(
    name: str,
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    pg_url: str,
    tmp_path: Path,
    kills: int,
    events: int,
    seed: int,
    pause: tuple[float, float],
) -> None:
    plan = Plan(
        name=name,
        seed=seed,
        events=events,
        stream_s=kills * (sum(pause) / 2 + 0.5),
        workers=2,
        shape=Shape(users=300, burst_rate=0.004),
    )
    report = run_faults(
        plan, kafka_bootstrap, topic_factory, pg_url, tmp_path, crash_nemesis(kills, pause)
    )
    assert report.kills >= kills
    assert report.ok, report.render()
    assert report.commands > 100  # the history really exercised the engine
    assert report.enrol_commands > 20  # both kinds


def test_crash_loop_short(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_run(
        "crash-short", kafka_bootstrap, topic_factory, pg_url, tmp_path, 20, 2500, 81, (0.1, 1.0)
    )


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_crash_loop_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_run(
        "crash-long", kafka_bootstrap, topic_factory, pg_url, tmp_path, 220, 20_000, 82, (0.2, 2.0)
    )
