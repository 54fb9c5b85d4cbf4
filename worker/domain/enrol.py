"""Segment sync enrolment, pure: "every member of segment S is enrolled in course C".

An enrol link is active under the group link's rule without the group: its newest event is
`created` at t and its course and segment have no deletion at or after t. desired_enrol(C, U)
holds while some active enrol link on C has member(U, L.segment). Enrolments play no part:
the worker never assumes that its enrolment commands were applied.

Per (source, course, user) the commands alternate enrol, unenrol, ... like a group pair's;
their ids are uuid5 over (pair, number) in a namespace of their own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from worker.domain.justify import FactState
from worker.domain.transitions import Cause, owes_command, pick_cause, reason_for, uuid5_of

ENROL_NAMESPACE = uuid.UUID("0f6f3c1e-52a4-4a8e-9d0b-7e2f4a6c8b31")
_ENROL_SHA1 = hashlib.sha1(ENROL_NAMESPACE.bytes, usedforsecurity=False)
ENROL: Literal["enrol"] = "enrol"
UNENROL: Literal["unenrol"] = "unenrol"
OnLeave = Literal["unenrol", "suspend"]


@dataclass(frozen=True, slots=True)
class EnrolLinkState:
    link_id: str
    course_id: str | None
    segment_id: str | None
    role: str
    on_leave: str
    active: bool
    time_us: int
    course_deleted: int | None
    segment_deleted: int | None

    def is_active(self) -> bool:
        if not self.active or self.course_id is None or self.segment_id is None:
            return False
        return all(
            m is None or self.time_us > m for m in (self.course_deleted, self.segment_deleted)
        )


def enrol_justified(link: EnrolLinkState, membership: FactState | None) -> bool:
    """Link L wants user U enrolled: L active, U a member of L's segment since after the
    segment's newest deletion."""
    if not link.is_active() or membership is None:
        return False
    member, member_at = membership
    return member and (link.segment_deleted is None or member_at > link.segment_deleted)


@dataclass(frozen=True, slots=True, order=True)
class EnrolPairKey:
    source: str
    course_id: str
    user_id: str


def enrol_command_id(pair: EnrolPairKey, number: int) -> str:
    """uuid5(ENROL_NAMESPACE, JSON of [source, course, user, number])."""
    return uuid5_of(_ENROL_SHA1, (pair.source, pair.course_id, pair.user_id), number)


@dataclass(frozen=True, slots=True)
class EnrolCommand:
    pair: EnrolPairKey
    number: int  # 0-based: how many commands the pair had before this one
    kind: Literal["enrol", "unenrol"]
    link_ids: tuple[str, ...]
    roles: tuple[str, ...]
    on_leave: OnLeave
    reason: str
    caused_by: str
    time_us: int

    @property
    def command_id(self) -> str:
        return enrol_command_id(self.pair, self.number)


def roles_and_leave(
    links: Iterable[str], attrs: Mapping[str, tuple[str, str]]
) -> tuple[tuple[str, ...], OnLeave]:
    """The sorted distinct roles of these links, and `suspend` if any of them says so.
    `attrs`: (role, on_leave) per link."""
    got = [attrs[a] for a in links if a in attrs]
    roles = tuple(sorted({r for r, _ in got}))
    return roles, "suspend" if any(o == "suspend" for _, o in got) else "unenrol"


def decide_enrol(
    pair: EnrolPairKey,
    transitions: int,
    links_before: frozenset[str],
    links_after: frozenset[str],
    attrs: Mapping[str, tuple[str, str]],
    causes: Iterable[Cause],
) -> EnrolCommand | None:
    """The command owed for one (course, user) after a change of its justifying enrol links:
    an enrol names the links that justify it now, an unenrol those that did before (their
    roles, and whether any of them asks to suspend rather than unenrol)."""
    if not owes_command(transitions, links_after):
        return None
    should_be_in = bool(links_after)
    kind: Literal["enrol", "unenrol"] = ENROL if should_be_in else UNENROL
    cause = pick_cause(causes, "add" if should_be_in else "remove")
    justifying = links_after if should_be_in else links_before
    roles, on_leave = roles_and_leave(justifying, attrs)
    return EnrolCommand(
        pair=pair,
        number=transitions,
        kind=kind,
        link_ids=tuple(sorted(justifying)),
        roles=roles,
        on_leave=on_leave,
        reason=reason_for(cause.event_type, "add" if should_be_in else "remove"),
        caused_by=cause.event_id,
        time_us=cause.time_us,
    )
