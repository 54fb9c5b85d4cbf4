"""1. Crash loop: kill -9 of worker processes at random moments, right after a state
commit (before the publish) and mid-backfill (SEGSYNC_BACKFILL_CHUNK=5, bursts of 40-160
users per link), while a multi-site history streams in; restarted each time. The checker
then wants alternation per pair, final agreement with the reference, no stall."""

from __future__ import annotations

import re
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
    batch: int = 200,
    stream_s: float | None = None,
) -> None:
    plan = Plan(
        name=name,
        seed=seed,
        events=events,
        stream_s=kills * (sum(pause) / 2 + 0.5) if stream_s is None else stream_s,
        workers=2,
        shape=Shape(users=300, burst_rate=0.004),
        batch=batch,
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


def test_crash_loop_with_apply_lanes(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    """The same with batches of up to 1,000 records and a stream fast enough to fill them,
    so that the workers apply their batches' sites in lanes (ADR 0013) and are killed
    between a lane's commit and the batch's offsets as well as anywhere else."""
    crash_run(
        "crash-lanes",
        kafka_bootstrap,
        topic_factory,
        pg_url,
        tmp_path,
        15,
        8000,
        83,
        (0.3, 1.5),
        batch=1000,
        stream_s=12,
    )
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("worker-*.log"))
    assert re.search(r'"lanes": [234]', logs), "no batch was applied in lanes"
