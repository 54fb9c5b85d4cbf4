"""The LMS input events of the wire contract (CONTRACT.md, "Input events").

The models are the single source of truth for what a valid event is: the
decoder validates with them and `schemas.export` derives the JSON Schemas
from them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas import event_types

ID_MAX_LENGTH: Final = 128
SOURCE_MAX_LENGTH: Final = 255
# No id of ID_MAX_LENGTH digits needs more bits than this; bigger ints are refused
# before str() (which would otherwise raise for > 4300 digits).
_ID_MAX_BITS: Final = 430


def _coerce_id(value: object) -> object:
    # The contract reads a JSON integer as its decimal string; bool is an int
    # subclass but never an id, and floats would lose digits.
    if type(value) is str:
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL: refuse it here, not in the store.
            raise PydanticCustomError("id_nul", "Input should not contain NUL characters")
        return value
    if type(value) is int:
        if value.bit_length() > _ID_MAX_BITS:
            raise PydanticCustomError("id_too_long", "Integer id has too many digits")
        return str(value)
    raise PydanticCustomError("id_type", "Input should be a string or an integer")


# An identifier: str of 1..128 chars, or a JSON integer read as its decimal string.
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH),
    BeforeValidator(_coerce_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": ID_MAX_LENGTH},
                {"type": "integer"},
            ]
        }
    ),
]


def _check_source(value: object) -> object:
    if type(value) is str and "\x00" in value:
        raise PydanticCustomError("source_nul", "Input should not contain NUL characters")
    return value


Source = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=SOURCE_MAX_LENGTH),
    BeforeValidator(_check_source),
]

# RFC 3339 section 5.6 date-time; the section's note allows 't'/'z' in lower case
# and a space for 'T'. Range checks (month 13, Feb 30) are left to the parser.
RFC3339_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:(?P<sec>\d{2})(?:\.\d+)?(?P<off>[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_NOT_RFC3339 = "Input should be an RFC 3339 date-time string with a time zone offset"


def _check_time(value: object) -> object:
    # Pydantic alone would also take unix numbers, bare dates and '+0100'.
    if isinstance(value, datetime):
        return value
    if type(value) is not str:
        raise PydanticCustomError("rfc3339", _NOT_RFC3339)
    match = RFC3339_RE.fullmatch(value)
    if match is None:
        raise PydanticCustomError("rfc3339", _NOT_RFC3339)
    if match["sec"] == "60":
        # A leap second is valid RFC 3339 that datetime cannot hold: keep the
        # order by pinning it to the last microsecond of the minute.
        return f"{value[:17]}59.999999{match['off']}"
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00
        raise PydanticCustomError("datetime_range", "Datetime is out of range in UTC") from None


# An aware datetime, normalised to UTC; from a string only in RFC 3339 form.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_check_time), AfterValidator(_to_utc)]


class _Frozen(BaseModel):
    # Producers may add fields (and CloudEvents extension attributes): ignore them.
    model_config = ConfigDict(frozen=True, extra="ignore")


class NullMeansAbsent(_Frozen):
    """Data whose optional fields a producer may send as JSON null: read null as absent."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, value: Any) -> Any:
        if type(value) is dict and None in value.values():
            optional = {n for n, f in cls.model_fields.items() if not f.is_required()}
            return {k: v for k, v in value.items() if not (v is None and k in optional)}
        return value


def _check_text(value: object) -> object:
    if type(value) is str and "\x00" in value:
        raise PydanticCustomError("text_nul", "Input should not contain NUL characters")
    return value


# Optional free text (an enrolment method, a role): 1 to 128 characters when given.
Text = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=ID_MAX_LENGTH),
    BeforeValidator(_check_text),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": ID_MAX_LENGTH}),
]
NO_METHOD: Final = ""
DEFAULT_ROLE: Final = "student"
OnLeave = Literal["unenrol", "suspend"]


class EnrollmentData(NullMeansAbsent):
    user_id: Id
    course_id: Id
    # The enrolment method instance (manual, self, segment_sync:<link>...); absent: "".
    method: Text = NO_METHOD


class SegmentMemberData(_Frozen):
    user_id: Id
    segment_id: Id


class SegmentDeletedData(_Frozen):
    segment_id: Id


class LinkCreatedData(_Frozen):
    link_id: Id
    course_id: Id
    segment_id: Id
    group_id: Id


class LinkDeletedData(_Frozen):
    link_id: Id


class EnrolLinkCreatedData(NullMeansAbsent):
    link_id: Id
    course_id: Id
    segment_id: Id
    role: Text = DEFAULT_ROLE
    on_leave: OnLeave = "unenrol"


class GroupDeletedData(_Frozen):
    course_id: Id
    group_id: Id


class CourseDeletedData(_Frozen):
    course_id: Id


class EventBase(_Frozen):
    """The CloudEvents attributes every input event carries."""

    specversion: Literal["1.0"]
    id: Id
    source: Source
    time: UtcDatetime


class EnrollmentCreated(EventBase):
    type: Literal["lms.enrollment.created"]
    data: EnrollmentData


class EnrollmentDeleted(EventBase):
    type: Literal["lms.enrollment.deleted"]
    data: EnrollmentData


class SegmentMemberAdded(EventBase):
    type: Literal["lms.segment.member.added"]
    data: SegmentMemberData


class SegmentMemberRemoved(EventBase):
    type: Literal["lms.segment.member.removed"]
    data: SegmentMemberData


class SegmentDeleted(EventBase):
    type: Literal["lms.segment.deleted"]
    data: SegmentDeletedData


class LinkCreated(EventBase):
    type: Literal["lms.segment_group_link.created"]
    data: LinkCreatedData


class LinkDeleted(EventBase):
    type: Literal["lms.segment_group_link.deleted"]
    data: LinkDeletedData


class EnrolLinkCreated(EventBase):
    type: Literal["lms.segment_enrol_link.created"]
    data: EnrolLinkCreatedData


class EnrolLinkDeleted(EventBase):
    type: Literal["lms.segment_enrol_link.deleted"]
    data: LinkDeletedData


class GroupDeleted(EventBase):
    type: Literal["lms.group.deleted"]
    data: GroupDeletedData


class CourseDeleted(EventBase):
    type: Literal["lms.course.deleted"]
    data: CourseDeletedData


LmsEvent = Annotated[
    EnrollmentCreated
    | EnrollmentDeleted
    | SegmentMemberAdded
    | SegmentMemberRemoved
    | SegmentDeleted
    | LinkCreated
    | LinkDeleted
    | GroupDeleted
    | CourseDeleted
    | EnrolLinkCreated
    | EnrolLinkDeleted,
    Field(discriminator="type"),
]

EVENT_MODELS: Final[tuple[type[EventBase], ...]] = (
    EnrollmentCreated,
    EnrollmentDeleted,
    SegmentMemberAdded,
    SegmentMemberRemoved,
    SegmentDeleted,
    LinkCreated,
    LinkDeleted,
    GroupDeleted,
    CourseDeleted,
    EnrolLinkCreated,
    EnrolLinkDeleted,
)


def event_type_of(model: type[EventBase]) -> str:
    """The `type` value a model stands for (its Literal)."""
    value: str = get_args(model.model_fields["type"].annotation)[0]
    return value


KNOWN_TYPES: Final[frozenset[str]] = frozenset(event_type_of(m) for m in EVENT_MODELS)
if frozenset(event_types.ALL) != KNOWN_TYPES or len(event_types.ALL) != len(KNOWN_TYPES):
    raise ImportError("schemas.event_types and the event models name different types")

LMS_EVENT_ADAPTER: Final[TypeAdapter[LmsEvent]] = TypeAdapter(LmsEvent)
