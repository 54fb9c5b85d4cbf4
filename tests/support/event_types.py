"""The LMS event types (CONTRACT.md) by short names, for the test and benchmark generators.
`tests/unit/test_schema_export.py` checks them against the schema's own list."""

from __future__ import annotations

from typing import Final

ENROL: Final = "lms.enrollment.created"
UNENROL: Final = "lms.enrollment.deleted"
JOIN: Final = "lms.segment.member.added"
LEAVE: Final = "lms.segment.member.removed"
LINK: Final = "lms.segment_group_link.created"
UNLINK: Final = "lms.segment_group_link.deleted"
SEG_DEL: Final = "lms.segment.deleted"
GROUP_DEL: Final = "lms.group.deleted"
COURSE_DEL: Final = "lms.course.deleted"
ENROL_LINK: Final = "lms.segment_enrol_link.created"
ENROL_UNLINK: Final = "lms.segment_enrol_link.deleted"

ALL: Final = (
    ENROL,
    UNENROL,
    JOIN,
    LEAVE,
    LINK,
    UNLINK,
    SEG_DEL,
    GROUP_DEL,
    COURSE_DEL,
    ENROL_LINK,
    ENROL_UNLINK,
)
