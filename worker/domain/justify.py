"""The justification rule, pure: link L justifies user U when L is active, U is enrolled in
L's course and a member of L's segment, and no deletion at or after the time of the event
that made each of them true kills it. (On PostgreSQL the engine evaluates the same rule in
SQL, `worker.store.justify_pg`; both are checked against the reference.)"""

from __future__ import annotations

from dataclasses import dataclass

# (active, time_us) of the newest event of an enrolment or a membership
FactState = tuple[bool, int]


@dataclass(frozen=True, slots=True)
class LinkState:
    link_id: str
    course_id: str | None
    segment_id: str | None
    group_id: str | None
    active: bool
    time_us: int
    course_deleted: int | None  # newest deletion mark of its course, segment, group
    segment_deleted: int | None
    group_deleted: int | None

    def is_active(self) -> bool:
        if not self.active or self.course_id is None or self.segment_id is None:
            return False
        marks = (self.course_deleted, self.segment_deleted, self.group_deleted)
        return all(m is None or self.time_us > m for m in marks)


def justified(link: LinkState, enrolment: FactState | None, membership: FactState | None) -> bool:
    return link.is_active() and justified_by_live(link, enrolment, membership)


def justified_by_live(
    link: LinkState, enrolment: FactState | None, membership: FactState | None
) -> bool:
    """`justified` for a link already known active (`is_active`): a loop over many users of
    a few links checks each link once."""
    if enrolment is None or membership is None:
        return False
    enrolled, enrolled_at = enrolment
    member, member_at = membership
    if not (enrolled and member):
        return False
    if link.course_deleted is not None and enrolled_at <= link.course_deleted:
        return False
    return link.segment_deleted is None or member_at > link.segment_deleted


Row = tuple[str, str, str, str]  # a justification row: (link_id, user_id, course_id, group_id)


@dataclass(frozen=True, slots=True)
class Diff:
    inserts: set[Row]
    deletes: set[Row]


def diff(truth: set[Row], existing: set[Row], only: set[tuple[str, str]] | None = None) -> Diff:
    """Rows to add and to drop; `only` limits both sides to these (link, user) candidates."""
    if only is not None:
        truth = {r for r in truth if (r[0], r[1]) in only}
        existing = {r for r in existing if (r[0], r[1]) in only}
    return Diff(truth - existing, existing - truth)
