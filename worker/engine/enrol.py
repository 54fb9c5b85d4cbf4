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
from schemas.commands import ENROL_TYPE, UNENROL_TYPE
from worker.codec import COMMAND_CONTENT_TYPE, encode_enrol_command
from worker.destinations import ENROL_COMMAND
from worker.domain.enrol import EnrolCommand, EnrolLinkState, EnrolPairKey, decide_enrol
from worker.domain.transitions import Cause
from worker.domain.updates import BulkScope
from worker.engine.brake import BrakeLimits
from worker.engine.recompute import UserWork
from worker.ports import (
    CommandMeta,
    EPair,
    ERow,
    Headers,
    HeldRecord,
    OutboxRecord,
    PairState,
    Saved,
    StoreTx,
)

BRAKED = {
    et.ENROL_LINK_CREATED,
    et.ENROL_LINK_DELETED,
    et.SEGMENT_DELETED,
    et.COURSE_DELETED,
}
USERS_PER_QUERY = 2000
_NONE: PairState = (frozenset(), 0, None)  # no links, no history
CausesFor = Callable[[EPair, frozenset[str]], list[Cause]]


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
    commands: list[EnrolCommand] = []
    linked = tx.enrol_linked_sites(by_source) if by_source else set()
    for source, (ws, scopes) in sorted(by_source.items()):
        if source not in linked:
            continue  # a site without enrol links (most streams): nothing can change
        causes = _Causes()
        for scope, cause in scopes.items():
            kind, key = scope.selector[0], scope.selector[1]
            table = {"enrol_link": causes.links, "segment": causes.segments}.get(kind)
            (causes.courses if table is None else table)[key] = cause
        ordered = sorted(ws, key=lambda w: w.user_id)
        for i in range(0, len(ordered), USERS_PER_QUERY):
            part = ordered[i : i + USERS_PER_QUERY]
            commands += _user_chunk(tx, source, part, causes, cfg)
        if scopes:
            commands += _bulk(tx, source, scopes, causes, cfg, checkpoint)
    return commands


def _user_chunk(
    tx: StoreTx, source: str, ws: Sequence[UserWork], causes: _Causes, cfg: EnrolConfig
) -> list[EnrolCommand]:
    segments = {s for w in ws for s in w.segments}
    links = tx.enrol_links_selected(source, (), segments, ())
    on_segment: dict[str, list[str]] = defaultdict(list)
    for link_id, _, segment in links:
        if segment is not None:
            on_segment[segment].append(link_id)
    candidates = {(a, w.user_id) for w in ws for s in w.segments for a in on_segment[s]}
    if not candidates:
        return []
    link_ids = sorted({a for a, _ in candidates})
    users = [w.user_id for w in ws]
    by_user = {w.user_id: w for w in ws}
    inserts, deletes, states = tx.enrol_truth_diff(source, link_ids, users, candidates)

    def causes_for(p: EPair, links_of_pair: frozenset[str]) -> list[Cause]:
        segs = {s.segment_id for a in links_of_pair if (s := states.get(a)) and s.segment_id}
        w = by_user[p[1]]
        found = [c for c, _, seg in w.causes if seg is not None and seg in segs]
        found += causes.for_pair(p[0], links_of_pair, segs)
        return found or [c for c, _, seg in w.causes if seg is not None]

    return _settle(tx, source, inserts, deletes, states, causes_for, cfg, None)


def _bulk(
    tx: StoreTx,
    source: str,
    scopes: dict[BulkScope, Cause],
    causes: _Causes,
    cfg: EnrolConfig,
    checkpoint: Callable[[], None],
) -> list[EnrolCommand]:
    rows = tx.enrol_links_selected(source, causes.links, causes.segments, causes.courses)
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
    alone: list[tuple[BulkScope, Cause, list[str]]] = []
    merged: set[str] = set()
    limits = cfg.brake
    for scope, cause in scopes.items():
        links = links_of[scope]
        at_risk = sum(counts.get(a, 0) for a in links)
        if limits and cause.event_type in BRAKED and at_risk >= limits.floor():
            alone.append((scope, cause, links))
        else:
            merged.update(links)
    commands: list[EnrolCommand] = []
    for scope, cause, links in alone:
        hold = _hold(tx, source, scope, links, cause, limits)
        commands += _recompute_links(tx, source, links, causes_for, cfg, checkpoint, hold)
    if merged:
        commands += _recompute_links(tx, source, sorted(merged), causes_for, cfg, checkpoint, None)
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
        commands += _settle(tx, source, inserts, deletes, states, causes_for, cfg, hold)
        if len(users) < cfg.chunk:
            break
        after = users[-1]
        checkpoint()
    return commands


def _settle(
    tx: StoreTx,
    source: str,
    inserts: set[ERow],
    deletes: set[ERow],
    states: dict[str, EnrolLinkState],
    causes_for: CausesFor,
    cfg: EnrolConfig,
    hold: int | None,
) -> list[EnrolCommand]:
    if not inserts and not deletes:
        return []
    tx.enrol_apply_diff(source, inserts, deletes)
    added: dict[EPair, set[str]] = defaultdict(set)
    dropped: dict[EPair, set[str]] = defaultdict(set)
    for link_id, user, course in inserts:
        added[(course, user)].add(link_id)
    for link_id, user, course in deletes:
        dropped[(course, user)].add(link_id)
    touched = set(added) | set(dropped)
    pair_states = tx.enrol_pair_states(source, touched)
    every = {a for s in pair_states.values() for a in s[0]}
    every |= {a for v in dropped.values() for a in v}
    missing = sorted(every - set(states))
    states = {**states, **tx.enrol_link_states(source, missing)} if missing else states
    attrs = {a: (s.role, s.on_leave) for a, s in states.items()}
    commands: list[EnrolCommand] = []
    publish: list[OutboxRecord] = []
    held: dict[int, list[HeldRecord]] = defaultdict(list)
    saved: dict[EPair, Saved] = {}
    for p in sorted(touched):
        after, count, queued_behind = pair_states.get(p, _NONE)
        before = (after - added.get(p, set())) | dropped.get(p, set())
        pair = EnrolPairKey(source, *p)
        cmd = decide_enrol(pair, count, before, after, attrs, causes_for(p, before | after))
        if cmd is None:
            continue
        commands.append(cmd)
        # A pair with held commands queues later ones behind them: per-pair order survives.
        batch = queued_behind or (hold if cmd.kind == "unenrol" else None)
        record = to_record(cmd)
        if batch is None:
            publish.append(record)
        else:
            held[batch].append(HeldRecord(p[0], "", p[1], record))
        saved[p] = (cmd.number + 1, batch, cmd.reason, cmd.caused_by, cmd.time_us)
    tx.enrol_save_transitions(source, saved)
    tx.add_outbox(publish)
    for batch_id, records in held.items():
        tx.add_held(batch_id, records)
    return commands


def to_record(cmd: EnrolCommand) -> OutboxRecord:
    p = cmd.pair
    value = encode_enrol_command(
        command_id=cmd.command_id,
        source=p.source,
        kind=cmd.kind,
        course_id=p.course_id,
        user_id=p.user_id,
        link_ids=cmd.link_ids,
        roles=cmd.roles,
        on_leave=cmd.on_leave,
        reason=cmd.reason,
        caused_by=cmd.caused_by,
        time_us=cmd.time_us,
    )
    headers: Headers = [("content-type", COMMAND_CONTENT_TYPE.encode())]
    ce_type = ENROL_TYPE if cmd.kind == "enrol" else UNENROL_TYPE
    meta = CommandMeta(ce_type, cmd.reason, cmd.time_us)
    return OutboxRecord(ENROL_COMMAND, p.user_id.encode(), value, headers, meta=meta)
