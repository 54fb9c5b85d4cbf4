"""User scopes: the (link, user) candidates one batch's enrolments and memberships touch."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.domain.candidates import TouchingLinks
from worker.domain.transitions import BatchCauses, Cause, Command
from worker.domain.updates import UserScope
from worker.engine.settle import settle_sites
from worker.ports import PairT, StoreTx

USERS_PER_QUERY = 2000


@dataclass(slots=True)
class UserWork:
    """Everything one batch changed about one user: courses, segments, and why."""

    source: str
    user_id: str
    courses: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    # (cause, course it concerns, segment it concerns)
    causes: list[tuple[Cause, str | None, str | None]] = field(default_factory=list)

    def add(self, scope: UserScope, cause: Cause) -> None:
        self.courses |= scope.courses
        self.segments |= scope.segments
        course = next(iter(scope.courses), None)
        segment = next(iter(scope.segments), None)
        self.causes.append((cause, course, segment))


def user_scopes(
    tx: StoreTx,
    work: dict[tuple[str, str], UserWork],
    batch_causes: BatchCauses,
) -> list[Command]:
    # Every site of the batch in each statement: a thin batch's time is its statements.
    ordered = sorted(work.values(), key=lambda w: (w.source, w.user_id))
    commands: list[Command] = []
    for i in range(0, len(ordered), USERS_PER_QUERY):
        commands.extend(_user_chunk(tx, ordered[i : i + USERS_PER_QUERY], batch_causes))
    return commands


def _user_chunk(tx: StoreTx, ws: list[UserWork], batch_causes: BatchCauses) -> list[Command]:
    touching = TouchingLinks.of(
        tx.links_touching(
            {(w.source, c) for w in ws for c in w.courses},
            {(w.source, s) for w in ws for s in w.segments},
        )
    )
    segment_of = touching.segment_of
    # Only the pairs that can change (worker.domain.candidates), their rule and its writes.
    changed = {(w.source, w.user_id): (w.courses, w.segments) for w in ws}
    diffs = tx.apply_user_truth(changed, touching)
    if not diffs:
        return []
    by_user = {(w.source, w.user_id): w for w in ws}

    def causes_for(source: str, p: PairT, links_of_pair: frozenset[str]) -> list[Cause]:
        course, group, user = p
        w = by_user[(source, user)]
        segments = {s for a in links_of_pair if (s := segment_of.get((source, a))) is not None}
        relevant = [c for c, co, se in w.causes if co == course or (se and se in segments)]
        relevant += batch_causes.for_pair(source, course, group, links_of_pair, segments)
        return relevant or [c for c, _, _ in w.causes]

    return settle_sites(tx, diffs, causes_for)
