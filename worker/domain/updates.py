"""From an input event to the fact it updates and the scope whose pairs must be recomputed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from schemas import event_types as et
from worker.domain.facts import Fact
from worker.domain.transitions import Cause

FactKind = Literal["enrollment", "membership", "link", "enrol_link"]
MarkKind = Literal["segment", "group", "course"]


class FactUpdate(NamedTuple):
    kind: FactKind
    # (source, course, user, method) | (source, segment, user) | (source, link)
    key: tuple[str, ...]
    fact: Fact
    cause: Cause


class MarkUpdate(NamedTuple):
    kind: MarkKind
    key: tuple[str, ...]  # (source, segment) | (source, course, group) | (source, course)
    at: int
    cause: Cause


Update = FactUpdate | MarkUpdate


# Not frozen: one per event decoded, on the loop's thread, and a frozen dataclass's
# __init__ costs ~0.7 µs more (a setattr call per field). Nothing assigns.
@dataclass(slots=True)
class EventView:
    """The fields of a decoded event the domain needs (kept apart from the wire models)."""

    source: str
    event_id: str
    event_type: str
    time_us: int
    data: dict[str, str]


def to_update(ev: EventView, order: int) -> Update:
    """Raises KeyError for a type the domain does not know (the decoder filters those out)."""
    cause = Cause(ev.event_id, ev.event_type, ev.time_us, order)
    d, s, t = ev.data, ev.source, ev.time_us
    match ev.event_type:
        case et.ENROLLMENT_CREATED | et.ENROLLMENT_DELETED:
            active = ev.event_type == et.ENROLLMENT_CREATED
            fact = Fact(t, ev.event_id, active)
            key = (s, d["course_id"], d["user_id"], d.get("method", ""))
            return FactUpdate("enrollment", key, fact, cause)
        case et.MEMBER_ADDED | et.MEMBER_REMOVED:
            active = ev.event_type == et.MEMBER_ADDED
            fact = Fact(t, ev.event_id, active)
            return FactUpdate("membership", (s, d["segment_id"], d["user_id"]), fact, cause)
        case et.GROUP_LINK_CREATED:
            group = (d["course_id"], d["segment_id"], d["group_id"])
            return FactUpdate("link", (s, d["link_id"]), Fact(t, ev.event_id, True, group), cause)
        case et.GROUP_LINK_DELETED:
            return FactUpdate("link", (s, d["link_id"]), Fact(t, ev.event_id, False), cause)
        case et.ENROL_LINK_CREATED:
            attrs = (d["course_id"], d["segment_id"], d["role"], d["on_leave"])
            fact = Fact(t, ev.event_id, True, attrs)
            return FactUpdate("enrol_link", (s, d["link_id"]), fact, cause)
        case et.ENROL_LINK_DELETED:
            return FactUpdate("enrol_link", (s, d["link_id"]), Fact(t, ev.event_id, False), cause)
        case et.SEGMENT_DELETED:
            return MarkUpdate("segment", (s, d["segment_id"]), t, cause)
        case et.GROUP_DELETED:
            return MarkUpdate("group", (s, d["course_id"], d["group_id"]), t, cause)
        case et.COURSE_DELETED:
            return MarkUpdate("course", (s, d["course_id"]), t, cause)
    raise KeyError(ev.event_type)


@dataclass(frozen=True, slots=True)
class UserScope:
    """Recompute one user's justifications through the links on these courses / segments."""

    source: str
    user_id: str
    courses: frozenset[str]
    segments: frozenset[str]


Selector = (
    tuple[Literal["link"], str]
    | tuple[Literal["enrol_link"], str]
    | tuple[Literal["segment"], str]
    | tuple[Literal["group"], str, str]
    | tuple[Literal["course"], str]
)


@dataclass(frozen=True, slots=True)
class BulkScope:
    """Recompute every user's justification through the selected links (set-based, chunked)."""

    source: str
    selector: Selector


def scope_of(kind: FactKind | MarkKind, key: tuple[str, ...]) -> UserScope | BulkScope:
    match kind:
        case "enrollment":
            return UserScope(key[0], key[2], frozenset((key[1],)), frozenset())
        case "membership":
            return UserScope(key[0], key[2], frozenset(), frozenset((key[1],)))
        case "link":
            return BulkScope(key[0], ("link", key[1]))
        case "enrol_link":
            return BulkScope(key[0], ("enrol_link", key[1]))
        case "segment":
            return BulkScope(key[0], ("segment", key[1]))
        case "group":
            return BulkScope(key[0], ("group", key[1], key[2]))
        case "course":
            return BulkScope(key[0], ("course", key[1]))
    raise KeyError(kind)
