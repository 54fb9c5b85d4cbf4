"""User scopes: the (link, user) candidates one batch's enrolments and memberships touch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from worker.domain.transitions import BatchCauses, Cause, Command
from worker.domain.updates import UserScope
from worker.engine.settle import settle
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
    by_source: dict[str, list[UserWork]] = {}
    for w in work.values():
        by_source.setdefault(w.source, []).append(w)
    commands: list[Command] = []
    for source, ws in sorted(by_source.items()):
        ordered = sorted(ws, key=lambda w: w.user_id)
        for i in range(0, len(ordered), USERS_PER_QUERY):
            part = ordered[i : i + USERS_PER_QUERY]
            commands.extend(_user_chunk(tx, source, part, batch_causes))
    return commands


def _user_chunk(
    tx: StoreTx,
    source: str,
    ws: Iterable[UserWork],
    batch_causes: BatchCauses,
) -> list[Command]:
    ws = list(ws)
    links = tx.links_touching(
        source, {c for w in ws for c in w.courses}, {s for w in ws for s in w.segments}
    )
    on_course: dict[str, set[str]] = {}
    on_segment: dict[str, set[str]] = {}
    segment_of: dict[str, str | None] = {}
    for link_id, course, segment in links:
        segment_of[link_id] = segment
        if course is not None:
            on_course.setdefault(course, set()).add(link_id)
        if segment is not None:
            on_segment.setdefault(segment, set()).add(link_id)
    # Rows justified now through a link that may have moved away from these courses.
    held = tx.justified_in_courses(source, ((w.user_id, c) for w in ws for c in w.courses))
    candidates: set[tuple[str, str]] = set(held)
    for w in ws:
        u = w.user_id
        for c in w.courses:
            if c in on_course:
                candidates.update([(link_id, u) for link_id in on_course[c]])
        for s in w.segments:
            if s in on_segment:
                candidates.update([(link_id, u) for link_id in on_segment[s]])
    if not candidates:
        return []
    link_ids = sorted({a for a, _ in candidates})
    users = [w.user_id for w in ws]
    d = tx.apply_truth(source, link_ids, users, list(candidates))
    by_user = {w.user_id: w for w in ws}

    def causes_for(p: PairT, links_of_pair: frozenset[str]) -> list[Cause]:
        course, group, user = p
        w = by_user[user]
        segments = {s for a in links_of_pair if (s := segment_of.get(a)) is not None}
        relevant = [c for c, co, se in w.causes if co == course or (se and se in segments)]
        relevant += batch_causes.for_pair(source, course, group, links_of_pair, segments)
        return relevant or [c for c, _, _ in w.causes]

    return settle(tx, source, d, causes_for)
