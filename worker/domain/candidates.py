"""Which (link, user) pairs one user's changed enrolments and memberships can move, pure.

A link justifies a user only when the user is enrolled in the link's course AND a member of
its segment (`worker.domain.justify.justified` needs both, whatever else it checks). So
when a user's enrolment in course C or membership of segment S changed, a pair's truth can
differ from its stored row only if:
- the link can justify the user now: on C, with the user in its segment now (or on S, with
  the user in its course now), and the user still in C (or S); or
- the link justifies the user now (its row may have to go): a stored row in C (through a
  link that may have moved away from C), or through a link on C or S.
Every other link of C or S stays unjustified, as it was. Taking them all, as the engine did,
made 670,680 candidates for the benchmark's 100,000 events, of which 5.8 % could change
(docs/BENCHMARKS.md); tests/unit/test_candidates_hypothesis.py holds the narrowing to the
rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import NamedTuple


class UserHoldings(NamedTuple):
    """What one user holds now: the courses they are actively enrolled in, the segments they
    are an active member of, and their justification rows as (link_id, course_id)."""

    courses: frozenset[str]
    segments: frozenset[str]
    justified: tuple[tuple[str, str], ...]


NO_HOLDINGS = UserHoldings(frozenset(), frozenset(), ())


class HoldingsReader:
    """Collects the rows a store reads for `user_holdings`, keyed by (source, user_id)."""

    def __init__(self) -> None:
        self.courses: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.segments: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.justified: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)

    def holdings(self) -> dict[tuple[str, str], UserHoldings]:
        """Every user with something read."""
        c, s, j = self.courses, self.segments, self.justified
        return {
            k: UserHoldings(frozenset(c.get(k, ())), frozenset(s.get(k, ())), tuple(j.get(k, ())))
            for k in c.keys() | s.keys() | j.keys()
        }


_ABSENT = object()  # not a link of these: in no set of ids


@dataclass(slots=True)
class TouchingLinks:
    """The links on some (site, course) and (site, segment) keys, indexed both ways."""

    # (site, course) -> the links on it by their segment; (site, segment) -> by their course
    on_course: dict[tuple[str, str], dict[str | None, list[str]]] = field(default_factory=dict)
    on_segment: dict[tuple[str, str], dict[str | None, list[str]]] = field(default_factory=dict)
    course_of: dict[tuple[str, str], str | None] = field(default_factory=dict)
    segment_of: dict[tuple[str, str], str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, links: Iterable[tuple[str, str, str | None, str | None]]) -> TouchingLinks:
        """From (source, link_id, course_id, segment_id) rows."""
        t = cls()
        for source, link_id, course, segment in links:
            t.course_of[(source, link_id)] = course
            t.segment_of[(source, link_id)] = segment
            if course is not None:
                t.on_course.setdefault((source, course), {}).setdefault(segment, []).append(link_id)
            if segment is not None:
                t.on_segment.setdefault((source, segment), {}).setdefault(course, []).append(
                    link_id
                )
        return t

    def candidates(
        self,
        source: str,
        courses: AbstractSet[str],
        segments: AbstractSet[str],
        held: UserHoldings,
    ) -> list[str]:
        """The links whose pair with this user can change, given the courses and segments
        whose facts changed for the user and what the user holds now (may repeat a link)."""
        found: list[str] = []
        for c in courses & held.courses:
            found += _matching(self.on_course.get((source, c)), held.segments)
        for g in segments & held.segments:
            found += _matching(self.on_segment.get((source, g)), held.courses)
        found += [
            a
            for a, c in held.justified
            if c in courses
            or self.course_of.get((source, a), _ABSENT) in courses
            or self.segment_of.get((source, a), _ABSENT) in segments
        ]
        return found


def _matching(by_other: dict[str | None, list[str]] | None, held: frozenset[str]) -> list[str]:
    """The links of `by_other` (links by their other side) whose other side is in `held`,
    walking the smaller of the two."""
    if not by_other:
        return []
    if len(held) < len(by_other):
        return [a for k in held for a in by_other.get(k, ())]
    return [a for k, ids in by_other.items() if k in held for a in ids]
