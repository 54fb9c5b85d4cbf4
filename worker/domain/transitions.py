"""Pair transitions: when "should user U be in group G of course C?" flips, one command.

A pair's history is its number of commands so far: odd means "in the group". The next
command's id is derived from the pair and that number, so a re-publish carries the same id.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from schemas import event_types as et

# A fixed namespace: command ids must be the same on every machine and in every run.
COMMAND_NAMESPACE = uuid.UUID("5c3e2a0e-8d1b-4a57-9a51-3b7d4c1f0e2a")
ADD: Literal["add"] = "add"
REMOVE: Literal["remove"] = "remove"


@dataclass(frozen=True, slots=True, order=True)
class PairKey:
    source: str
    course_id: str
    group_id: str
    user_id: str


class Cause(NamedTuple):
    """The event behind a change; `order` is its position in the batch (later wins)."""

    event_id: str
    event_type: str
    time_us: int
    order: int


@dataclass(frozen=True, slots=True)
class BatchCauses:
    """The batch's link and deletion events, so that a pair settled while recomputing one
    scope can be blamed on the event that really explains it, whichever scope ran first."""

    links: dict[tuple[str, str], Cause]
    segments: dict[tuple[str, str], Cause]
    groups: dict[tuple[str, str, str], Cause]
    courses: dict[tuple[str, str], Cause]

    def for_pair(
        self, source: str, course: str, group: str, links: Iterable[str], segments: Iterable[str]
    ) -> list[Cause]:
        found = [self.links[(source, a)] for a in links if (source, a) in self.links]
        found += [self.segments[(source, s)] for s in segments if (source, s) in self.segments]
        for table, key in (
            (self.groups, (source, course, group)),
            (self.courses, (source, course)),
        ):
            if key in table:
                found.append(table[key])  # type: ignore[index]
        return found


@dataclass(frozen=True, slots=True)
class Command:
    pair: PairKey
    number: int  # 0-based: how many commands the pair had before this one
    kind: Literal["add", "remove"]
    link_ids: tuple[str, ...]
    reason: str
    caused_by: str
    time_us: int

    @property
    def command_id(self) -> str:
        return command_id(self.pair, self.number)


def command_id(pair: PairKey, number: int) -> str:
    """uuid5(COMMAND_NAMESPACE, JSON of [source, course, group, user, number]): the JSON is
    unambiguous whatever characters the ids contain. Computed as `uuid.uuid5` and
    `json.dumps` do (tests/unit/test_command_id.py checks it against them), without their
    per-call overhead: a 100,000-user backfill makes 100,000 of these."""
    parts = (pair.source, pair.course_id, pair.group_id, pair.user_id)
    return uuid5_of(_NAMESPACE_SHA1, parts, number)


def uuid5_of(namespace: Any, parts: tuple[str, ...], number: int) -> str:
    """uuid5(namespace, JSON of [*parts, number]); `namespace` is sha1 over its bytes."""
    if _PLAIN.fullmatch("".join(parts)):  # nothing json.dumps would escape, in any part
        name = "[" + "".join(f'"{p}", ' for p in parts) + f"{int(number)}]"
    else:
        name = json.dumps([*parts, number])
    h = namespace.copy()
    h.update(name.encode("utf-8"))
    digest = bytearray(h.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# Printable ASCII without the two characters JSON escapes: json.dumps writes such a string
# as itself between quotes.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
_NAMESPACE_SHA1 = hashlib.sha1(COMMAND_NAMESPACE.bytes, usedforsecurity=False)


# (reason when the pair is added, reason when it is removed) per causing event type.
_REASONS: dict[str, tuple[str, str]] = {
    et.ENROLLMENT_CREATED: ("enrolled", "unenrolled"),
    et.ENROLLMENT_DELETED: ("enrolled", "unenrolled"),
    et.MEMBER_ADDED: ("joined_segment", "left_segment"),
    et.MEMBER_REMOVED: ("joined_segment", "left_segment"),
    et.GROUP_LINK_CREATED: ("link_created", "link_deleted"),
    et.GROUP_LINK_DELETED: ("link_created", "link_deleted"),
    et.ENROL_LINK_CREATED: ("link_created", "link_deleted"),
    et.ENROL_LINK_DELETED: ("link_created", "link_deleted"),
    et.SEGMENT_DELETED: ("segment_deleted", "segment_deleted"),
    et.GROUP_DELETED: ("group_deleted", "group_deleted"),
    et.COURSE_DELETED: ("course_deleted", "course_deleted"),
}
# Event types that can make a pair true / false: used to pick the cause of a collapsed change.
_CAN_ADD = {
    et.ENROLLMENT_CREATED,
    et.MEMBER_ADDED,
    et.GROUP_LINK_CREATED,
    et.ENROL_LINK_CREATED,
}
_CAN_REMOVE = set(_REASONS) - {et.ENROLLMENT_CREATED, et.MEMBER_ADDED}


def reason_for(event_type: str, kind: Literal["add", "remove"]) -> str:
    add, remove = _REASONS[event_type]
    return add if kind == ADD else remove


def pick_cause(causes: Iterable[Cause], kind: Literal["add", "remove"]) -> Cause:
    """Which of a batch's events explains a collapsed change, in LMS time: an add happened
    when its last condition came true (the newest fitting event), a remove when its first
    condition went false (the oldest fitting one). Batch order breaks ties."""
    if isinstance(causes, list | tuple) and len(causes) == 1:
        return causes[0]  # the common case (a backfill's every pair): the only candidate
    fitting = _CAN_ADD if kind == ADD else _CAN_REMOVE
    pool = [c for c in causes if c.event_type in fitting] or list(causes)
    if kind == ADD:
        return max(pool, key=lambda c: (c.time_us, c.order))
    return min(pool, key=lambda c: (c.time_us, -c.order))


def owes_command(transitions: int, links_after: frozenset[str]) -> bool:
    """Whether a pair's history (odd: in) differs from what its links say now. Checked
    before a pair's causes are gathered: a pair that keeps another justifying link, or
    that a user's batch touched without changing, owes nothing."""
    return (transitions % 2 == 1) != bool(links_after)


def decide(
    pair: PairKey,
    transitions: int,
    links_before: frozenset[str],
    links_after: frozenset[str],
    causes: Iterable[Cause],
) -> Command | None:
    """The command owed for one pair after a change of its justifying links, if any."""
    if not owes_command(transitions, links_after):
        return None
    should_be_in = bool(links_after)
    kind: Literal["add", "remove"] = ADD if should_be_in else REMOVE
    cause = pick_cause(causes, kind)
    justifying = links_after if should_be_in else links_before
    return Command(
        pair=pair,
        number=transitions,
        kind=kind,
        link_ids=tuple(sorted(justifying)),
        reason=reason_for(cause.event_type, kind),
        caused_by=cause.event_id,
        time_us=cause.time_us,
    )
