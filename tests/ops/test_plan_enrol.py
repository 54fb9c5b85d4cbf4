"""`segsync plan` writes enrolment commands too: with both kinds and methods in the history,
the planned commands of each kind follow the reference, and the worker emits the same ones."""

from __future__ import annotations

import json
import random

from tests.ops.conftest import Ops
from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.reference import check, check_enrol, desired, desired_enrol


def test_plan_writes_both_kinds(ops: Ops) -> None:
    rng = random.Random(17)
    history = random_history(
        rng, 500, sources=2, users=10, courses=3, segments=4, links=6, enrol=True
    )
    ops.produce(shuffled_with_duplicates(rng, history, 0.1))
    proc = ops.segsync("plan")
    planned = [json.loads(line) for line in proc.stdout.splitlines()]
    groups = [c for c in planned if c["type"].startswith("lms.group.member.")]
    enrols = [c for c in planned if c["type"].startswith("lms.course.")]
    assert len(groups) + len(enrols) == len(planned) and enrols
    assert check(groups, desired(history)).violations == []
    assert check_enrol(enrols, desired_enrol(history)).violations == []
    assert f"{len(enrols) - sum(c['type'] == 'lms.course.unenrol' for c in enrols)} enrol" in (
        proc.stderr
    )
    assert ops.enrolments() == []  # a plan publishes nothing
    ops.worker()
    worker = check_enrol(ops.enrolments(), desired_enrol(history))
    assert worker.violations == []
    assert worker.final == check_enrol(enrols, desired_enrol(history)).final
