"""Enrolment justification of (enrol link, user) candidates: the facts read by index, the
rule decided in the domain (`worker.domain.enrol.enrol_justified`), on both stores."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from worker.domain.enrol import EnrolLinkState, enrol_justified
from worker.ports import ERow
from worker.store import enrol_repo as er
from worker.store import justify_repo as jr


def truth_diff(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: set[tuple[str, str]],
) -> tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]:
    """Rows to add and to drop among the (link, user) candidates, and the links' states."""
    states = er.link_states(conn, source, link_ids)
    live = {a: s for a, s in states.items() if s.is_active()}
    segments = sorted({s.segment_id for s in live.values() if s.segment_id})
    members = jr.user_facts(conn, "membership", source, users, segments)
    truth: set[ERow] = set()
    for link_id, user in candidates:
        s = live.get(link_id)
        if s is None or not s.course_id or not s.segment_id:
            continue
        if enrol_justified(s, members.get((s.segment_id, user))):
            truth.add((link_id, user, s.course_id))
    existing = {r for r in er.existing(conn, source, link_ids, users) if (r[0], r[1]) in candidates}
    return truth - existing, existing - truth, states
