"""The LMS input event types (CONTRACT.md, "Input events"), one name each.

The worker, the ops commands, the tests and the benchmarks use these names instead of the
bare strings. (The models in `schemas.events` must spell each type as a `Literal` of its
own; `schemas.events` checks at import that the two lists are the same.)
"""

from __future__ import annotations

from typing import Final

ENROLLMENT_CREATED: Final = "lms.enrollment.created"
ENROLLMENT_DELETED: Final = "lms.enrollment.deleted"
MEMBER_ADDED: Final = "lms.segment.member.added"
MEMBER_REMOVED: Final = "lms.segment.member.removed"
GROUP_LINK_CREATED: Final = "lms.segment_group_link.created"
GROUP_LINK_DELETED: Final = "lms.segment_group_link.deleted"
ENROL_LINK_CREATED: Final = "lms.segment_enrol_link.created"
ENROL_LINK_DELETED: Final = "lms.segment_enrol_link.deleted"
SEGMENT_DELETED: Final = "lms.segment.deleted"
GROUP_DELETED: Final = "lms.group.deleted"
COURSE_DELETED: Final = "lms.course.deleted"

ALL: Final = (
    ENROLLMENT_CREATED,
    ENROLLMENT_DELETED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    GROUP_LINK_CREATED,
    GROUP_LINK_DELETED,
    ENROL_LINK_CREATED,
    ENROL_LINK_DELETED,
    SEGMENT_DELETED,
    GROUP_DELETED,
    COURSE_DELETED,
)
