"""Newest-event-wins facts: the pure rules that make the state a function of the event *set*.

Each fact (an enrolment, a segment membership, a link) keeps only its newest event, ordered by
(time, id). Deletion marks keep the newest deletion time. An older event changes nothing, so
duplicates, replays and any delivery order land in the same place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Verdict(Enum):
    NEWER = "newer"  # replaces the stored fact
    SAME = "same"  # this very event is the stored fact: re-apply (a crash may have cut it short)
    STALE = "stale"  # older than the stored fact: no effect


class Fact(NamedTuple):
    """The newest event of one fact. `attrs` is (course, segment, group) for group links,
    (course, segment, role, on_leave) for enrol links, None for a deletion.
    (A NamedTuple, not a frozen dataclass: one is built per event and per stored row.)"""

    time_us: int
    event_id: str
    active: bool
    attrs: tuple[str, ...] | None = None

    @property
    def stamp(self) -> tuple[int, str]:
        return (self.time_us, self.event_id)


def compare(new: tuple[int, str], stored: tuple[int, str] | None) -> Verdict:
    if stored is None or new > stored:
        return Verdict.NEWER
    return Verdict.SAME if new == stored else Verdict.STALE


def compare_mark(new_at: int, stored_at: int | None) -> Verdict:
    """Deletion marks: a later deletion kills a superset of what an earlier one killed."""
    if stored_at is None or new_at > stored_at:
        return Verdict.NEWER
    return Verdict.SAME if new_at == stored_at else Verdict.STALE


@dataclass(slots=True)
class Folded(Generic[K, V]):
    """Result of folding a batch into stored values: what to write and what to re-examine."""

    write: dict[K, V]  # values that changed (to be stored)
    touched: dict[K, V]  # changed or re-applied: their consequences must be recomputed
    verdicts: list[Verdict]  # one per input event, in input order


def _fold(
    stored: dict[K, V], events: list[tuple[K, V]], judge: Callable[[V, V | None], Verdict]
) -> Folded[K, V]:
    current = dict(stored)
    result: Folded[K, V] = Folded({}, {}, [])
    for key, value in events:
        verdict = judge(value, current.get(key))
        result.verdicts.append(verdict)
        if verdict is Verdict.NEWER:
            current[key] = value
            result.write[key] = value
            result.touched[key] = value
        elif verdict is Verdict.SAME:
            result.touched[key] = value
    return result


def fold(stored: dict[K, Fact], events: list[tuple[K, Fact]]) -> Folded[K, Fact]:
    """Fold a batch of (key, candidate fact) into the stored facts, newest (time, id) wins."""
    return _fold(stored, events, lambda new, cur: compare(new.stamp, cur.stamp if cur else None))


def fold_marks(stored: dict[K, int], events: list[tuple[K, int]]) -> Folded[K, int]:
    """Fold deletion times into the stored marks, the latest wins."""
    return _fold(stored, events, compare_mark)


def enrolment_of(methods: list[Fact]) -> Fact | None:
    """One (user, course)'s enrolment from the newest event of each of its methods: enrolled
    while any method's newest event is `created`. The time is the newest `created` one (if
    any): a course deletion kills the enrolment only when it is at or after every active
    method's time, and "some active method is newer than the deletion" is "the newest active
    one is". With no active method, the newest event of all stands for the fact."""
    if not methods:
        return None
    active = [f for f in methods if f.active]
    return max(active or methods, key=lambda f: f.stamp)
