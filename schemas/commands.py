"""The commands of the wire contract (CONTRACT.md, "Output commands"): group membership
and enrolment (segment sync).

The worker encodes commands without pydantic (`worker.codec`); these models are the
reference that tests, tools and the exported JSON Schemas use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, get_args
from urllib.parse import quote

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.events import ID_MAX_LENGTH, SOURCE_MAX_LENGTH

Reason = Literal[
    "enrolled",
    "joined_segment",
    "link_created",
    "unenrolled",
    "left_segment",
    "link_deleted",
    "segment_deleted",
    "group_deleted",
    "course_deleted",
    "resync",
]
REASONS: Final[frozenset[str]] = frozenset(get_args(Reason))

CommandType = Literal["lms.group.member.add", "lms.group.member.remove"]
ADD_TYPE: Final = "lms.group.member.add"
REMOVE_TYPE: Final = "lms.group.member.remove"

# Enrolment commands: the reasons a segment sync enrolment can have (no enrolment reasons:
# desired_enrol does not depend on enrolments).
EnrolReason = Literal[
    "joined_segment",
    "link_created",
    "left_segment",
    "link_deleted",
    "segment_deleted",
    "course_deleted",
    "resync",
]
ENROL_REASONS: Final[frozenset[str]] = frozenset(get_args(EnrolReason))
EnrolCommandType = Literal["lms.course.enrol", "lms.course.unenrol"]
ENROL_TYPE: Final = "lms.course.enrol"
UNENROL_TYPE: Final = "lms.course.unenrol"
ENROL_METHOD: Final = "segment_sync"
# Every command says who made it: an LMS removes or unenrols only what it recorded so.
COMPONENT: Final = "segsync"

# Ids in commands are the ids of input events, already read as strings.
CommandId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH)]

# Each id is percent-encoded as a URI path segment, so no id part holds a '/'.
SUBJECT_PATTERN: Final = r"^course/[^/]+/group/[^/]+/user/[^/]+$"
ENROL_SUBJECT_PATTERN: Final = r"^course/[^/]+/user/[^/]+$"
# RFC 3986 pchar: unreserved characters (never quoted) plus these stay as they are.
_PCHAR_SAFE: Final = "!$&'()*+,;=:@"


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class _Strict(BaseModel):
    # Our own output: an unexpected key is a bug, so forbid rather than ignore.
    model_config = ConfigDict(frozen=True, extra="forbid")


# A command names at most this many justifying links (the first ones, sorted), so that one
# group with thousands of links into it cannot make a command too big to publish; `link_count`
# then says how many there were.
MAX_LINK_IDS: Final = 100


def _check_cut(link_ids: list[str], link_count: int | None) -> None:
    if link_count is not None and len(link_ids) != MAX_LINK_IDS:
        raise ValueError(f"link_count is set only when link_ids holds {MAX_LINK_IDS} ids")


class _Envelope(_Strict):
    """The CloudEvents attributes every command carries first (the rest is per kind)."""

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1, max_length=SOURCE_MAX_LENGTH)]


class CommandData(_Strict):
    course_id: CommandId
    group_id: CommandId
    user_id: CommandId
    link_ids: Annotated[list[CommandId], Field(max_length=MAX_LINK_IDS)]
    # Present only when `link_ids` was cut: the number of links it stands for.
    link_count: Annotated[int, Field(gt=MAX_LINK_IDS)] | None = None
    reason: Reason
    # Plain str: a `resync` command has no causing event, the tool names its own cause.
    caused_by: str
    component: Literal["segsync"]

    @model_validator(mode="after")
    def _cut_only_when_full(self) -> CommandData:
        _check_cut(self.link_ids, self.link_count)
        return self


class GroupCommand(_Envelope):
    type: CommandType
    subject: Annotated[str, Field(pattern=SUBJECT_PATTERN)]
    time: Annotated[AwareDatetime, AfterValidator(_to_utc)]
    datacontenttype: Literal["application/json"]
    data: CommandData

    @model_validator(mode="after")
    def _subject_names_the_pair(self) -> GroupCommand:
        # The pattern alone cannot tell which '/' separates ids that contain '/'.
        expected = subject_of(self.data.course_id, self.data.group_id, self.data.user_id)
        if self.subject != expected:
            raise ValueError("subject does not match data.course_id/group_id/user_id")
        return self


# What `quote` leaves as it is (its always-safe characters and ours): most ids, returned
# without quote's encode and scan (three per group command).
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~!$&'()*+,;=:@-]*")


def path_segment(value: str) -> str:
    """An id percent-encoded as a URI path segment (UTF-8): `/` is %2F, `%` is %25."""
    if _UNQUOTED.fullmatch(value):
        return value
    return quote(value, safe=_PCHAR_SAFE)


def subject_of(course_id: str, group_id: str, user_id: str) -> str:
    """The command `subject` of a (course, group, user) triple: one subject names one pair."""
    return (
        f"course/{path_segment(course_id)}/group/{path_segment(group_id)}"
        f"/user/{path_segment(user_id)}"
    )


def enrol_subject_of(course_id: str, user_id: str) -> str:
    """The enrolment command `subject` of a (course, user) pair, ids percent-encoded."""
    return f"course/{path_segment(course_id)}/user/{path_segment(user_id)}"


class EnrolCommandData(_Strict):
    course_id: CommandId
    user_id: CommandId
    method: Literal["segment_sync"]
    link_ids: Annotated[list[CommandId], Field(max_length=MAX_LINK_IDS)]
    link_count: Annotated[int, Field(gt=MAX_LINK_IDS)] | None = None  # as in CommandData
    # The sorted distinct roles of the links in link_ids.
    roles: list[CommandId]
    # What the LMS does on an unenrol: suspend if any link in link_ids says so.
    on_leave: Literal["unenrol", "suspend"]
    reason: EnrolReason
    caused_by: str
    component: Literal["segsync"]

    @model_validator(mode="after")
    def _cut_only_when_full(self) -> EnrolCommandData:
        _check_cut(self.link_ids, self.link_count)
        return self


class EnrolCommand(_Envelope):
    type: EnrolCommandType
    subject: Annotated[str, Field(pattern=ENROL_SUBJECT_PATTERN)]
    time: Annotated[AwareDatetime, AfterValidator(_to_utc)]
    datacontenttype: Literal["application/json"]
    data: EnrolCommandData

    @model_validator(mode="after")
    def _subject_names_the_pair(self) -> EnrolCommand:
        if self.subject != enrol_subject_of(self.data.course_id, self.data.user_id):
            raise ValueError("subject does not match data.course_id/user_id")
        return self
