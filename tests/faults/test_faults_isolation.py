"""6. Tenant isolation: two sources whose histories use the very same user, course,
segment, group and link ids - and the same event ids - plus events copied from one site to
the other under fresh ids. Each source's commands are checked against the reference
computed on that source's events only; every `caused_by` and cited link must be of the
command's own source."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.faults_gen import Shape, evolving_history
from tests.support.faults_scenarios import Plan, crash_nemesis, run_faults
from tests.support.kafka_io import TopicFactory
from tests.support.reference import Ev, desired


def twin_histories(seed: int, n: int) -> list[Ev]:
    shape_a = Shape(sources=("site-a",), users=80, burst_users=(10, 40), burst_rate=0.01)
    shape_b = Shape(sources=("site-b",), users=80, burst_users=(10, 40), burst_rate=0.01)
    a = evolving_history(random.Random(seed), n, shape_a)
    b = evolving_history(random.Random(seed + 1), n, shape_b)
    rng = random.Random(seed + 2)
    # Some of a's facts also happen on b (fresh ids there): the sites overlap, not mirror.
    copied = [
        Ev("site-b", f"copy-{e.id}", e.type, e.time_us, e.data) for e in a if rng.random() < 0.2
    ]
    return a + b + copied


def isolation_run(
    name: str,
    seed: int,
    n: int,
    kills: int,
    workers: int,
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    pg_url: str,
    tmp_path: Path,
) -> None:
    history = twin_histories(seed, n)
    a = desired(e for e in history if e.source == "site-a")
    b = desired(e for e in history if e.source == "site-b")
    strip = {p[1:] for p in a} ^ {p[1:] for p in b}
    assert strip, "the two sites should want different groups"
    plan = Plan(
        name, seed, events=len(history), stream_s=8 + kills * 1.5, workers=workers, per_source=True
    )
    report = run_faults(
        plan,
        kafka_bootstrap,
        topic_factory,
        pg_url,
        tmp_path,
        crash_nemesis(kills),
        history=history,
    )
    assert report.ok, report.render()


def test_two_sites_same_ids_short(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    isolation_run(
        "isolation-short", 61, 600, 2, 1, kafka_bootstrap, topic_factory, pg_url, tmp_path
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_sites_same_ids_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    isolation_run(
        "isolation-long", 62, 6000, 25, 2, kafka_bootstrap, topic_factory, pg_url, tmp_path
    )
