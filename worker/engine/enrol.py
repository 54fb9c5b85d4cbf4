"""Segment sync enrolment in a batch: after the group pass, the same batch's membership
changes, enrol link events and segment/course deletions are recomputed for enrol links, and
the (course, user) pairs whose desired_enrol flips get an enrol or unenrol command.

User scopes look up only the changed users' rows; bulk scopes (an enrol link created or
deleted, a segment or course deleted) run set-based in chunks of users like group links, with
a checkpoint between chunks, and the mass-removal brake counts unenrols per course. Enrolment
events play no part: desired_enrol depends on memberships and enrol links only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from schemas import event_types as et
from worker.domain.enrol import EnrolCommand
from worker.domain.transitions import Cause
from worker.domain.updates import BulkScope
from worker.engine.brake import BrakeLimits, braked_apart
from worker.engine.enrol_settle import CausesFor, settle, settle_sites
from worker.engine.recompute import UserWork
from worker.ports import (
    EPair,
    StoreTx,
)

BRAKED = {
    et.ENROL_LINK_CREATED,
    et.ENROL_LINK_DELETED,
    et.SEGMENT_DELETED,
    et.COURSE_DELETED,
}
USERS_PER_QUERY = 2000


@dataclass(frozen=True, slots=True)
class EnrolConfig:
    chunk: int
    brake: BrakeLimits | None


@dataclass(slots=True)
class _Causes:
    """The batch's bulk events of one site that concern enrol links."""

    links: dict[str, Cause] = field(default_factory=dict)
    segments: dict[str, Cause] = field(default_factory=dict)
    courses: dict[str, Cause] = field(default_factory=dict)

    def for_pair(self, course: str, links: Iterable[str], segments: Iterable[str]) -> list[Cause]:
        found = [self.links[a] for a in links if a in self.links]
        found += [self.segments[s] for s in segments if s in self.segments]
        if course in self.courses:
            found.append(self.courses[course])
        return found


def enrol_pass(
    tx: StoreTx,
    users: dict[tuple[str, str], UserWork],
    bulk: dict[BulkScope, Cause],
    cfg: EnrolConfig,
    checkpoint: Callable[[], None],
) -> list[EnrolCommand]:
    by_source: dict[str, tuple[list[UserWork], dict[BulkScope, Cause]]] = defaultdict(
        lambda: ([], {})
    )
    for w in users.values():
        if w.segments:
            by_source[w.source][0].append(w)
    for scope, cause in bulk.items():
        if scope.selector[0] in ("enrol_link", "segment", "course"):
            by_source[scope.source][1][scope] = cause
    linked = tx.enrol_linked_sites(by_source) if by_source else set()
    # A site without enrol links (most streams): nothing can change.
    sites = {s: v for s, v in by_source.items() if s in linked}
    causes: dict[str, _Causes] = {}
    for source, (_, scopes) in sites.items():
        c = causes[source] = _Causes()
        for scope, cause in scopes.items():
            kind, key = scope.selector[0], scope.selector[1]
            table = {"enrol_link": c.links, "segment": c.segments}.get(kind)
            (c.courses if table is None else table)[key] = cause
    # The users of every site at once (a thin batch's time is its statements), then the
    # bulk scopes site by site.
    ordered = sorted((w for ws, _ in sites.values() for w in ws), key=_site_user)
    commands: list[EnrolCommand] = []
    for i in range(0, len(ordered), USERS_PER_QUERY):
        commands += _user_chunk(tx, ordered[i : i + USERS_PER_QUERY], causes)
    for source, (_, scopes) in sorted(sites.items()):
        if scopes:
            commands += _bulk(tx, source, scopes, causes[source], cfg, checkpoint)
    return commands


def _site_user(w: UserWork) -> tuple[str, str]:
    return w.source, w.user_id


def _user_chunk(
    tx: StoreTx, ws: Sequence[UserWork], causes: dict[str, _Causes]
) -> list[EnrolCommand]:
    links = tx.enrol_links_selected((), {(w.source, s) for w in ws for s in w.segments}, ())
    on_segment: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, link_id, _, segment in links:
        if segment is not None:
            on_segment[(source, segment)].append(link_id)
    candidates: dict[str, set[tuple[str, str]]] = {}
    for w in ws:
        found = [a for s in w.segments for a in on_segment.get((w.source, s), ())]
        if found:
            candidates.setdefault(w.source, set()).update((a, w.user_id) for a in found)
    if not candidates:
        return []
    by_user = {_site_user(w): w for w in ws}
    diffs = tx.enrol_truth_diff_sites(candidates)

    def causes_for(source: str, p: EPair, links_of_pair: frozenset[str]) -> list[Cause]:
        states = diffs[source][2]
        segs = {s.segment_id for a in links_of_pair if (s := states.get(a)) and s.segment_id}
        w = by_user[(source, p[1])]
        found = [c for c, _, seg in w.causes if seg is not None and seg in segs]
        found += causes[source].for_pair(p[0], links_of_pair, segs)
        return found or [c for c, _, seg in w.causes if seg is not None]

    return settle_sites(tx, diffs, causes_for, None)


def _bulk(
    tx: StoreTx,
    source: str,
    scopes: dict[BulkScope, Cause],
    causes: _Causes,
    cfg: EnrolConfig,
    checkpoint: Callable[[], None],
) -> list[EnrolCommand]:
    site = [[(source, k) for k in keys] for keys in (causes.links, causes.segments, causes.courses)]
    rows = [r[1:] for r in tx.enrol_links_selected(*site)]
    links_of: dict[BulkScope, list[str]] = {}
    for scope in scopes:
        kind, key = scope.selector[0], scope.selector[1]
        col = {"enrol_link": 0, "course": 1, "segment": 2}[kind]
        links_of[scope] = [r[0] for r in rows if r[col] == key]
    segment_of = {r[0]: r[2] for r in rows}
    every = list(scopes.values())

    def causes_for(p: EPair, links_of_pair: frozenset[str]) -> list[Cause]:
        segs = {s for a in links_of_pair if (s := segment_of.get(a)) is not None}
        return causes.for_pair(p[0], links_of_pair, segs) or every

    counts = tx.enrol_justification_counts(
        source, sorted({a for v in links_of.values() for a in v})
    )
    limits = cfg.brake
    alone, merged = braked_apart(scopes, links_of, counts, BRAKED, limits)
    commands: list[EnrolCommand] = []
    for scope, cause, links in alone:
        hold = _hold(tx, source, scope, links, cause, limits)
        commands += _recompute_links(tx, source, links, causes_for, cfg, checkpoint, hold)
    if merged:
        commands += _recompute_links(tx, source, merged, causes_for, cfg, checkpoint, None)
    return commands


def _hold(
    tx: StoreTx,
    source: str,
    scope: BulkScope,
    link_ids: Sequence[str],
    cause: Cause,
    limits: BrakeLimits | None,
) -> int | None:
    if limits is None or not link_ids:
        return None
    keep = None
    if scope.selector[0] == "enrol_link":
        now = tx.enrol_link_course(source, scope.selector[1])
        if now is not None and now[0]:
            keep = now[1]  # re-created: only users on courses it leaves are at risk
    over = [
        (c, n, size)
        for c, n, size in tx.unenrol_estimate(source, link_ids, keep)
        if limits.exceeded(n, size)
    ]
    if not over:
        return None
    detail = "; ".join(f"course {c} enrolments: {n} of {size} users" for c, n, size in over)
    return tx.open_held_batch(source, cause.event_id, cause.event_type, detail)


def _recompute_links(
    tx: StoreTx,
    source: str,
    link_ids: Sequence[str],
    causes_for: CausesFor,
    cfg: EnrolConfig,
    checkpoint: Callable[[], None],
    hold: int | None,
) -> list[EnrolCommand]:
    commands: list[EnrolCommand] = []
    after: str | None = None
    while link_ids:
        users = tx.enrol_next_users(source, link_ids, after, cfg.chunk)
        if not users:
            break
        candidates = {(a, u) for a in link_ids for u in users}
        inserts, deletes, states = tx.enrol_truth_diff(source, link_ids, users, candidates)
        commands += settle(tx, source, inserts, deletes, states, causes_for, hold)
        if len(users) < cfg.chunk:
            break
        after = users[-1]
        checkpoint()
    return commands
